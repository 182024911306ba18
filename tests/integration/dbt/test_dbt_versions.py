"""Versions of transactions through the dbt project on a real PostgreSQL warehouse.

A small raw table of versions (pending -> completed -> refunded, completed -> chargeback, pending -> failed, a row
loaded before versions, an unconverted purchase, versions loaded out of order), built, then a second load (a late
completion, a refund of the old row, the late older versions) built incrementally. Proves: fct_transactions holds
the current version per transaction; the status history holds every version with revenue deltas that sum to the
current worth; fct_hourly_revenue and fct_daily_revenue report purchases, gross, refunded and net USD exactly as
``contracts.lifecycle.revenue()`` counts them; the incremental state equals a full rebuild.

Its own schemas (raw copy ``dbt_v_raw``, marts ``dbt_v``), so it neither reads nor disturbs the other dbt tests'.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from contracts.lifecycle import Revenue, revenue, revenue_delta
from tests.dbt_runner import Dbt, DbtResult
from tests.dbt_warehouse import ENRICHED, insert_raw, own_schemas, query, rows_only_in_each

pytestmark = pytest.mark.integration

RAW_SCHEMA = "dbt_v_raw"
MARTS_SCHEMA = "dbt_v"
SNAPSHOT_SCHEMA = "dbt_v_snapshot"
VARS = json.dumps({"mtx_raw_schema": RAW_SCHEMA})
FIRST_LOAD = dt.datetime(2026, 11, 1, 6, 0)
SECOND_LOAD = dt.datetime(2026, 11, 2, 6, 0)
POE, HADES = "Path Of Exile 2", "Hades"
EVENT = {POE: dt.datetime(2025, 5, 1, 10, 15), HADES: dt.datetime(2025, 5, 1, 11, 40)}


def version(
    transaction_id: str,
    number: int,
    status: str,
    previous: str | None,
    amount_usd: str | None,
    *,
    game: str = POE,
    loaded_at: dt.datetime = FIRST_LOAD,
    stamped: bool = True,
) -> dict[str, Any]:
    """One raw row: a stored version (USD amounts, so amount_usd = amount; None: an unconverted purchase)."""
    at = EVENT[game] + dt.timedelta(minutes=int(transaction_id[-1]))
    stored = at + dt.timedelta(minutes=10 * number)
    amount = Decimal(amount_usd) if amount_usd is not None else Decimal("8.00")
    return ENRICHED | {
        "transaction_id": transaction_id,
        "user_id": f"player-{transaction_id}",
        "game": game,
        "item_id": "mtx_abyssal_wings",
        "item_name": "Abyssal Wings",
        "item_type": "cosmetic",
        "price_amount": amount,
        "price_currency": "USD" if amount_usd is not None else "XAF",
        "payment_method": "paypal",
        "payment_gateway": "PayPal",
        "transaction_status": status,
        "server_region": "EU-West",
        "event_at": at,
        "ingested_at": stored,
        "event_date": at.date(),
        "source_partition": at.date(),
        "loaded_at": loaded_at,
        "amount_usd": Decimal(amount_usd) if amount_usd is not None else None,
        "usd_per_unit": Decimal(1) if amount_usd is not None else None,
        "fx_rate_date": dt.date(2025, 5, 1) if amount_usd is not None else None,
        "version": number,
        "previous_status": previous,
        # a row loaded before versions has no stamp (staging reads ingested_at for it)
        "status_updated_at": stored if stamped else None,
    }


FIRST_BATCH = [
    version("a1", 1, "pending", None, "10.00"),
    version("a1", 2, "completed", "pending", "10.00"),
    version("a1", 3, "refunded", "completed", "10.00"),
    version("a2", 1, "completed", None, "5.00"),
    version("a2", 2, "chargeback", "completed", "5.00"),
    version("a3", 1, "pending", None, "7.00"),
    version("a3", 2, "failed", "pending", "7.00"),
    version("a4", 1, "completed", None, "3.00", stamped=False),  # loaded before versions
    version("a5", 1, "pending", None, "2.00"),
    version("a6", 3, "chargeback", "completed", "4.00"),  # its versions 1 and 2 arrive late
    version("b1", 1, "completed", None, None, game=HADES),  # no exchange rate: a purchase with no money
]
SECOND_BATCH = [
    version("a5", 2, "completed", "pending", "2.00", loaded_at=SECOND_LOAD),
    version("a4", 2, "refunded", "completed", "3.00", loaded_at=SECOND_LOAD),
    version("a6", 1, "pending", None, "4.00", loaded_at=SECOND_LOAD),  # late older versions: never current
    version("a6", 2, "completed", "pending", "4.00", loaded_at=SECOND_LOAD),
]
MARTS = ("fct_transactions", "fct_transaction_status_history", "fct_daily_revenue", "fct_hourly_revenue")


def _current(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The highest version per transaction of raw rows: what the marts must count."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["transaction_id"] not in out or row["version"] > out[row["transaction_id"]]["version"]:
            out[row["transaction_id"]] = row
    return out


def _expected_hourly(rows: list[dict[str, Any]]) -> dict[tuple[str, dt.datetime], Revenue]:
    """contracts.lifecycle.revenue() of every current version, summed per game and hour of event_at."""
    hourly: dict[tuple[str, dt.datetime], Revenue] = defaultdict(Revenue)
    for row in _current(rows).values():
        hour = row["event_at"].replace(minute=0, second=0, microsecond=0)
        hourly[(row["game"], hour)] += revenue(row["transaction_status"], row["amount_usd"])
    return dict(hourly)


def _hourly(conn: psycopg.Connection) -> dict[tuple[str, dt.datetime], Revenue]:
    return {
        (r["game"], r["revenue_hour"]): Revenue(r["purchase_count"], r["gross_usd"], r["refunded_usd"], r["net_usd"])
        for r in query(conn, f"select * from {MARTS_SCHEMA}.fct_hourly_revenue")
    }


def _assert_passed(result: DbtResult) -> None:
    assert result.returncode == 0, result.output[-6000:]
    statuses = result.statuses()
    assert set(statuses.values()) <= {"success", "pass", "warn"}, statuses
    # b1 has no exchange rate: reported, not fatal
    warned = {uid.split(".")[2] for uid, status in statuses.items() if status == "warn"}
    assert warned == {"every_purchase_has_an_exchange_rate"}, statuses


@pytest.fixture(scope="module")
def warehouse(warehouse_dsn: str) -> Iterator[psycopg.Connection]:
    with own_schemas(warehouse_dsn, RAW_SCHEMA, [MARTS_SCHEMA], [SNAPSHOT_SCHEMA]) as conn:
        yield conn


@pytest.fixture(scope="module")
def dbt(warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Dbt:
    return Dbt(warehouse_dsn, tmp_path_factory.mktemp("dbt_versions"), MARTS_SCHEMA)


def _load_and_build(warehouse: psycopg.Connection, dbt: Dbt, rows: list[dict[str, Any]]) -> DbtResult:
    insert_raw(warehouse, RAW_SCHEMA, rows)
    result = dbt("build", "--target", "local", "--vars", VARS)
    _assert_passed(result)
    return result


@pytest.fixture(scope="module")
def first_build(warehouse: psycopg.Connection, dbt: Dbt) -> DbtResult:
    return _load_and_build(warehouse, dbt, FIRST_BATCH)


def test_the_marts_hold_the_current_version_and_the_lifecycles_revenue(
    first_build: DbtResult, warehouse: psycopg.Connection
) -> None:
    facts = {r["transaction_id"]: r for r in query(warehouse, f"select * from {MARTS_SCHEMA}.fct_transactions")}
    assert {k: (r["version"], r["transaction_status"], r["previous_status"]) for k, r in facts.items()} == {
        "a1": (3, "refunded", "completed"),
        "a2": (2, "chargeback", "completed"),
        "a3": (2, "failed", "pending"),
        "a4": (1, "completed", None),
        "a5": (1, "pending", None),
        "a6": (3, "chargeback", "completed"),
        "b1": (1, "completed", None),
    }
    assert (facts["a1"]["gross_usd"], facts["a1"]["refunded_usd"], facts["a1"]["net_usd"]) == (
        Decimal("10.0000"),
        Decimal("10.0000"),
        Decimal("0.0000"),
    )
    assert facts["a4"]["status_updated_at"] == facts["a4"]["ingested_at"]  # no stamp: stored when ingested
    assert facts["a1"]["status_updated_at"] == dt.datetime(2025, 5, 1, 10, 46)

    hourly = _hourly(warehouse)
    assert hourly == _expected_hourly(FIRST_BATCH)
    assert hourly == {
        # a1 refunded 10, a2 chargeback 5, a4 completed 3, a6 chargeback 4; a3 failed, a5 pending count nothing
        (POE, dt.datetime(2025, 5, 1, 10)): Revenue(4, Decimal("22"), Decimal("19"), Decimal("3")),
        (HADES, dt.datetime(2025, 5, 1, 11)): Revenue(1, Decimal("0"), Decimal("0"), Decimal("0")),
    }
    counts = {
        r["game"]: r["transaction_count"] for r in query(warehouse, f"select * from {MARTS_SCHEMA}.fct_hourly_revenue")
    }
    assert counts == {POE: 6, HADES: 1}


def test_the_status_history_has_every_version_and_its_revenue_delta(
    first_build: DbtResult, warehouse: psycopg.Connection
) -> None:
    history = query(warehouse, f"select * from {MARTS_SCHEMA}.fct_transaction_status_history")
    assert sorted((r["transaction_id"], r["version"]) for r in history) == sorted(
        (r["transaction_id"], r["version"]) for r in FIRST_BATCH
    )
    for row in history:  # each version's delta is revenue_delta(previous_status, status, amount_usd)
        delta = revenue_delta(row["previous_status"], row["transaction_status"], row["amount_usd"])
        got = Revenue(
            row["purchase_count_delta"], row["gross_usd_delta"], row["refunded_usd_delta"], row["net_usd_delta"]
        )
        assert got == delta, (row["transaction_id"], row["version"])
    refund = next(r for r in history if (r["transaction_id"], r["version"]) == ("a1", 3))
    assert (refund["gross_usd_delta"], refund["refunded_usd_delta"], refund["net_usd_delta"]) == (
        Decimal("0"),
        Decimal("10.0000"),
        Decimal("-10.0000"),
    )


@pytest.fixture(scope="module")
def incremental_build(first_build: DbtResult, warehouse: psycopg.Connection, dbt: Dbt) -> DbtResult:
    return _load_and_build(warehouse, dbt, SECOND_BATCH)


def test_an_incremental_build_moves_revenue_with_the_new_versions(
    incremental_build: DbtResult, warehouse: psycopg.Connection
) -> None:
    facts = {r["transaction_id"]: r for r in query(warehouse, f"select * from {MARTS_SCHEMA}.fct_transactions")}
    assert (facts["a5"]["version"], facts["a5"]["transaction_status"]) == (2, "completed")
    assert (facts["a4"]["version"], facts["a4"]["transaction_status"]) == (2, "refunded")
    assert (facts["a6"]["version"], facts["a6"]["transaction_status"]) == (3, "chargeback")  # late v1/v2: no change
    everything = FIRST_BATCH + SECOND_BATCH
    hourly = _hourly(warehouse)
    assert hourly == _expected_hourly(everything)
    # a5 completed (+1 purchase, +2 gross, +2 net); a4 refunded (+3 refunded, -3 net)
    assert hourly[(POE, dt.datetime(2025, 5, 1, 10))] == Revenue(5, Decimal("24"), Decimal("22"), Decimal("2"))
    daily = query(warehouse, f"select * from {MARTS_SCHEMA}.fct_daily_revenue where game = '{POE}'")
    assert [
        (r["purchase_count"], r["gross_usd"], r["refunded_usd"], r["net_usd"], r["revenue_usd"]) for r in daily
    ] == [(5, Decimal("24"), Decimal("22"), Decimal("2"), Decimal("2"))]
    assert (daily[0]["refund_count"], daily[0]["chargeback_count"], daily[0]["failed_count"]) == (2, 2, 1)
    # the history's deltas, summed per hour, are the hourly mart (what the real-time aggregates add up)
    sums = query(
        warehouse,
        f"""select game, date_trunc('hour', event_at) as hour, sum(purchase_count_delta) as purchases,
                   sum(gross_usd_delta) as gross, sum(refunded_usd_delta) as refunded, sum(net_usd_delta) as net
            from {MARTS_SCHEMA}.fct_transaction_status_history group by 1, 2""",
    )
    assert {
        (r["game"], r["hour"]): Revenue(r["purchases"], r["gross"], r["refunded"], r["net"]) for r in sums
    } == hourly
    assert len(query(warehouse, f"select * from {MARTS_SCHEMA}.fct_transaction_status_history")) == len(everything)


def test_the_incremental_state_equals_a_full_rebuild(
    incremental_build: DbtResult, warehouse: psycopg.Connection, dbt: Dbt
) -> None:
    warehouse.execute(f"create schema {SNAPSHOT_SCHEMA}")
    for mart in MARTS:
        warehouse.execute(f"create table {SNAPSHOT_SCHEMA}.{mart} as select * from {MARTS_SCHEMA}.{mart}")
    rebuilt = dbt("run", "--target", "local", "--full-refresh", "--vars", VARS, target_name="rebuild")
    assert rebuilt.returncode == 0, rebuilt.output[-6000:]
    for mart in MARTS:
        (only_incremental, only_rebuilt) = rows_only_in_each(
            warehouse, f"{SNAPSHOT_SCHEMA}.{mart}", f"{MARTS_SCHEMA}.{mart}"
        )
        assert (only_incremental, only_rebuilt) == (0, 0), mart


def test_the_project_compiles_the_revenue_rules_from_one_macro() -> None:
    """Every mart's revenue comes from macros/lifecycle_revenue.sql (the statuses of contracts.lifecycle)."""
    from contracts.lifecycle import PURCHASED, REVERSED

    macro = (Path(__file__).resolve().parents[3] / "dbt" / "macros" / "lifecycle_revenue.sql").read_text()
    for measure, statuses in (
        ("purchases", PURCHASED),
        ("gross", PURCHASED),
        ("refunded", REVERSED),
        ("net", PURCHASED - REVERSED),
    ):
        line = next(x for x in macro.splitlines() if x.strip().startswith(f"'{measure}':"))
        listed = {s.strip(" '") for s in line.split("[", 1)[1].split("]", 1)[0].split(",")}
        assert listed == {s.value for s in statuses}, measure
