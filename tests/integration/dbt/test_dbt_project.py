"""The dbt project (dbt/) against a real PostgreSQL warehouse.

Known transactions in, exact numbers out: USD conversion, player lifetime
value, cohorts; an incremental run adds exactly the new rows and equals a full
rebuild; a broken batch (duplicate key, negative amount) fails named tests;
the Redshift target parses offline. What the project sends to Redshift is
captured and checked offline by tests/unit/test_redshift_capture.py.

The tests write their own schemas (raw copy `dbt_it_raw`, marts `dbt_it`, ...)
so that they neither read nor disturb what else lives in the warehouse. dbt
runs in this process (``dbtRunner``, as BuildMarts runs it) with its own target and
log folders, so a developer's dbt/target is left alone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from contracts.lifecycle import MOVES
from contracts.transaction import Gateway, ItemType, PaymentMethod, ServerRegion, TransactionStatus
from contracts.warehouse import COLUMNS, REGIONS
from lambdas.common.enrich import FxTable
from lambdas.common.errors import FxRateMissing
from orchestration.sample_data.fx import fx_document
from tests.browser import offline_page
from tests.dbt_runner import Dbt, DbtResult
from tests.dbt_warehouse import ENRICHED, insert_raw, own_schemas, query, rows_only_in_each

REPO_ROOT = Path(__file__).resolve().parents[3]
DBT_DIR = REPO_ROOT / "dbt"

RAW_SCHEMA = "dbt_it_raw"
BROKEN_RAW_SCHEMA = "dbt_it_raw_broken"
MARTS_SCHEMA = "dbt_it"
BROKEN_MARTS_SCHEMA = "dbt_it_broken"
MARTS = (
    "fct_transactions",
    "fct_transaction_status_history",
    "dim_players",
    "dim_items",
    "fct_daily_revenue",
    "fct_hourly_revenue",
    "fct_item_performance",
    "fct_payment_mix",
    "fct_player_cohorts",
)

#: The FX table the local stack publishes (from the exchange_rates seed): the Enrich stage's amount_usd
FX = FxTable.from_document(json.dumps(fx_document()))
FIRST_LOAD = dt.datetime(2026, 11, 1, 6, 0, 0)
SECOND_LOAD = dt.datetime(2026, 11, 2, 6, 0, 0)


def tx(
    transaction_id: str,
    user_id: str,
    currency: str,
    amount: str,
    event_at: str,
    status: str = "completed",
    *,
    item_id: str = "mtx_abyssal_wings",
    item_type: str = "cosmetic",
    game: str = "Path Of Exile 2",
    method: str = "paypal",
    gateway: str = "PayPal",
    region: str = "EU-West",
    loaded_at: dt.datetime = FIRST_LOAD,
) -> dict[str, Any]:
    at = dt.datetime.fromisoformat(event_at)
    try:  # as the Enrich stage stamps it; a currency without a rate: as a row stored before the stage existed
        usd, rate = FX.convert(Decimal(amount), currency, at.date().isoformat())
        fx: dict[str, Any] = {"amount_usd": usd, "usd_per_unit": rate.usd_per_unit, "fx_rate_date": rate.rate_date}
    except FxRateMissing:
        fx = {"amount_usd": None, "usd_per_unit": None, "fx_rate_date": None}
    return (
        fx
        | ENRICHED
        | {
            "transaction_id": transaction_id,
            "user_id": user_id,
            "game": game,
            "item_id": item_id,
            "item_name": item_id.replace("mtx_", "").replace("_", " ").title(),
            "item_type": item_type,
            "price_amount": Decimal(amount),
            "price_currency": currency,
            "payment_method": method,
            "payment_gateway": gateway,
            "transaction_status": status,
            "server_region": region,
            "event_at": at,
            "ingested_at": at + dt.timedelta(seconds=2),
            "event_date": at.date(),
            "source_partition": at.date(),
            "loaded_at": loaded_at,
            # a row as loaded from an object written before versions: version 1 (the column's default), no stamp
            "version": 1,
            "previous_status": None,
            "status_updated_at": None,
        }
    )


# Expected USD amounts come from seeds/exchange_rates.csv: the latest rate on or
# before the purchase date, amount x rate rounded to 4 decimals.
FIRST_BATCH = [
    # alice: cohort 2025-01, two purchases in January (a repeat), one in March, one refund
    # EUR 2025-01-01 1.036168 -> 10.3617
    tx("t01", "alice", "EUR", "10.00", "2025-01-15 10:00:00"),
    tx("t02", "alice", "USD", "4.99", "2025-01-20 11:00:00", item_id="mtx_gold_pack", item_type="currency"),
    # JPY 2025-03-01 0.00640292 -> 7.6835
    tx("t03", "alice", "JPY", "1200", "2025-03-02 12:00:00", region="Asia-Pacific"),
    tx(
        "t04", "alice", "USD", "20.00", "2025-03-05 13:00:00", "refunded", item_id="mtx_gold_pack", item_type="currency"
    ),
    # bob: cohort 2025-02; his BRL payment failed
    # GBP 2025-02-01 1.229434 -> 9.2208
    tx("t05", "bob", "GBP", "7.50", "2025-02-10 09:00:00", method="credit_card", gateway="Stripe"),
    tx("t06", "bob", "BRL", "25.00", "2025-02-11 09:30:00", "failed", method="credit_card", gateway="Stripe"),
    # carol: a pending KRW payment in January does not start her cohort; PLN purchase in February does
    tx("t07", "carol", "KRW", "5000", "2025-01-31 23:00:00", "pending", region="Asia-Pacific"),
    tx("t08", "carol", "PLN", "19.99", "2025-02-28 08:00:00", region="EU-East"),  # 0.242393 -> 4.8454
    # dave: a currency without any rate (no USD amount), then a purchase after the last rate date
    tx("t09", "dave", "CAD", "10.00", "2027-02-01 00:00:00", region="NA-East"),  # CAD 2026-12-01 0.719479 -> 7.1948
    tx("t10", "dave", "XAF", "1000", "2025-02-03 07:00:00", region="NA-East"),
]

SECOND_BATCH = [
    tx("t11", "bob", "EUR", "5.00", "2025-04-01 10:00:00", loaded_at=SECOND_LOAD),  # EUR 2025-04-01 1.060119 -> 5.3006
    tx("t12", "erin", "USD", "3.00", "2025-04-02 10:00:00", loaded_at=SECOND_LOAD),
]
# ... and the Glue merge re-loads t06: bob's failed BRL payment went through after all.
RELOADED = {"transaction_id": "t06", "transaction_status": "completed", "loaded_at": SECOND_LOAD}


# --------------------------------------------------------------------------- helpers


def by_key(rows: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    return {row[keys[0]] if len(keys) == 1 else tuple(row[k] for k in keys): row for row in rows}


def assert_success(result: DbtResult) -> None:
    assert result.returncode == 0, result.output[-6000:]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def warehouse(warehouse_dsn: str) -> Iterator[psycopg.Connection]:
    with own_schemas(warehouse_dsn, RAW_SCHEMA, (MARTS_SCHEMA, BROKEN_MARTS_SCHEMA), [BROKEN_RAW_SCHEMA]) as conn:
        yield conn


@pytest.fixture(scope="module")
def dbt(warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Dbt:
    return Dbt(warehouse_dsn, tmp_path_factory.mktemp("dbt"), MARTS_SCHEMA)


@pytest.fixture(scope="module")
def first_build(warehouse: psycopg.Connection, dbt: Dbt) -> DbtResult:
    insert_raw(warehouse, RAW_SCHEMA, FIRST_BATCH)
    result = dbt("build", "--target", "local", "--vars", json.dumps({"mtx_raw_schema": RAW_SCHEMA}))
    assert_success(result)
    return result


@pytest.fixture(scope="module")
def incremental_run(first_build: DbtResult, warehouse: psycopg.Connection, dbt: Dbt) -> DbtResult:
    insert_raw(warehouse, RAW_SCHEMA, SECOND_BATCH)
    warehouse.execute(
        f"update {RAW_SCHEMA}.mtx_transactions set transaction_status = %s, loaded_at = %s where transaction_id = %s",
        (RELOADED["transaction_status"], RELOADED["loaded_at"], RELOADED["transaction_id"]),
    )
    result = dbt("build", "--target", "local", "--vars", json.dumps({"mtx_raw_schema": RAW_SCHEMA}))
    assert_success(result)
    return result


# --------------------------------------------------------------------------- tests: first build


@pytest.mark.integration
def test_build_passes_every_test(first_build: DbtResult) -> None:
    statuses = first_build.statuses()
    assert statuses, "dbt wrote no run results"
    assert set(statuses.values()) <= {"success", "pass", "warn"}, statuses
    # dave's XAF purchase has no exchange rate: reported, not fatal
    warned = {uid.split(".")[2] for uid, status in statuses.items() if status == "warn"}
    assert warned == {"every_purchase_has_an_exchange_rate"}, statuses
    for mart in MARTS:
        assert statuses[f"model.mtx.{mart}"] == "success"
    unit_tests = [uid for uid in statuses if uid.startswith("unit_test.")]
    assert len(unit_tests) >= 3, unit_tests


@pytest.mark.integration
def test_unique_is_answered_by_a_unique_index_and_scans_without_one(
    first_build: DbtResult, warehouse: psycopg.Connection, dbt: Dbt
) -> None:
    """On PostgreSQL `unique` trusts a unique index on the column (macros/unique_test_on_postgres.sql);
    with the index gone it scans again and finds a duplicate."""
    compiled = dbt.workdir / "main" / "compiled" / "mtx" / "models" / "marts" / "core" / "_core__models.yml"
    [sql_file] = compiled.glob("unique_fct_transactions_transaction_id*.sql")
    assert "by a unique index" in sql_file.read_text()
    fct = f"{MARTS_SCHEMA}.fct_transactions"
    [(index,)] = warehouse.execute(
        "select indexname from pg_indexes where schemaname = %s and tablename = 'fct_transactions'"
        " and indexdef like 'CREATE UNIQUE INDEX%%(transaction_id)'",
        (MARTS_SCHEMA,),
    ).fetchall()
    warehouse.execute(f'drop index {MARTS_SCHEMA}."{index}"')
    warehouse.execute(f"insert into {fct} select * from {fct} where transaction_id = 't05'")
    try:
        result = dbt(
            "test", "--target", "local", "--select", "fct_transactions,test_name:unique",
            "--vars", json.dumps({"mtx_raw_schema": RAW_SCHEMA}), target_name="unique",
        )  # fmt: skip
        assert result.returncode != 0
        failed = {uid.split(".")[2] for uid, status in result.statuses().items() if status == "fail"}
        assert failed == {"unique_fct_transactions_transaction_id"}, result.statuses()
    finally:  # put the table back as the build left it, for the tests after this one
        warehouse.execute(
            f"delete from {fct} where ctid in"
            f" (select max(ctid) from {fct} where transaction_id = 't05' having count(*) > 1)"
        )
        warehouse.execute(f'create unique index "{index}" on {fct} (transaction_id)')


def documented_marts() -> dict[str, dict[str, Any]]:
    """mart -> its YAML entry (description, columns), from models/marts/*/_*.yml."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((DBT_DIR / "models" / "marts").glob("*/_*.yml")):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            found[model["name"]] = model
    return found


def stored_comments(conn: psycopg.Connection, table: str) -> tuple[str | None, dict[str, str | None]]:
    rows = conn.execute(
        "select a.attname, col_description(c.oid, a.attnum), obj_description(c.oid, 'pg_class')"
        " from pg_class as c join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
        " where c.oid = %s::regclass",
        (f"{MARTS_SCHEMA}.{table}",),
    ).fetchall()
    return rows[0][2], {name: comment for name, comment, _ in rows}


@pytest.mark.integration
def test_mart_descriptions_are_stored_and_only_changed_ones_rewritten(
    first_build: DbtResult, warehouse: psycopg.Connection, dbt: Dbt
) -> None:
    """persist_docs (macros/persist_docs_on_postgres.sql): after the build every mart and mart column
    carries its YAML description as a comment. A later run writes only the comments that differ:
    one column's comment is tampered with and the table's removed, and the next run's SQL (--debug
    prints every statement) rewrites exactly those two; a run after that writes none."""
    marts = documented_marts()
    assert set(marts) == set(MARTS)
    for name, model in marts.items():
        table_comment, columns = stored_comments(warehouse, name)
        assert table_comment == model["description"], name
        for column in model["columns"]:
            assert columns[column["name"]] == column["description"], (name, column["name"])

    mix = f"{MARTS_SCHEMA}.fct_payment_mix"
    warehouse.execute(f"comment on column {mix}.payment_method is 'stale'")
    warehouse.execute(f"comment on table {mix} is null")
    args = ("--debug", "run", "--target", "local", "--select", "fct_payment_mix",
            "--vars", json.dumps({"mtx_raw_schema": RAW_SCHEMA}))  # fmt: skip
    first = dbt(*args, target_name="docs")
    assert_success(first)
    written = re.findall(r"comment on (column|table) \S+", first.output)
    assert sorted(written) == ["column", "table"], written
    assert re.search(r"comment on column \S+\.payment_method is", first.output)
    table_comment, columns = stored_comments(warehouse, "fct_payment_mix")
    assert table_comment == marts["fct_payment_mix"]["description"]
    expected = {c["name"]: c["description"] for c in marts["fct_payment_mix"]["columns"]}
    assert columns["payment_method"] == expected["payment_method"]

    second = dbt(*args, target_name="docs")
    assert_success(second)
    assert "comment on" not in second.output


@pytest.mark.integration
def test_raw_brin_index_is_created_then_kept_summarized(
    first_build: DbtResult, warehouse: psycopg.Connection, dbt: Dbt
) -> None:
    """The fct_transactions pre-hook (macros/source_loaded_at_index.sql) gave the raw table a BRIN
    index on loaded_at, and every run summarizes the page ranges appended since the last one: an
    unsummarized range matches every "loaded_at > watermark" scan.

    Proof: with autovacuum off for the table (nothing else summarizes), rows are appended and deleted
    again (new page ranges, no new transactions), then fct_transactions runs with nothing to add.
    Summarizing afterwards finds nothing left to do; without the hook it would find those ranges."""
    raw = f"{RAW_SCHEMA}.mtx_transactions"
    [(index,)] = warehouse.execute(
        "select quote_ident(schemaname) || '.' || quote_ident(indexname) from pg_indexes"
        " where schemaname = %s and tablename = 'mtx_transactions' and indexdef like '%%USING brin (loaded_at)'",
        (RAW_SCHEMA,),
    ).fetchall()
    columns = ", ".join(c.name for c in COLUMNS)
    fill = ", ".join(
        {"transaction_id": "'brin-' || g", "loaded_at": "timestamp '2031-01-01' + g * interval '1 second'"}.get(
            c.name, c.name
        )
        for c in COLUMNS
    )

    def pages() -> int:
        return int(
            warehouse.execute(f"select pg_relation_size('{raw}') / current_setting('block_size')::int").fetchone()[0]
        )

    warehouse.execute(f"alter table {raw} set (autovacuum_enabled = false)")
    try:
        pages_before = pages()
        warehouse.execute(
            f"insert into {raw} ({columns}) select {fill}"
            f" from {raw} as t cross join generate_series(1, 8000) as g where t.transaction_id = 't01'"
        )
        warehouse.execute(f"delete from {raw} where transaction_id like 'brin-%%'")
        assert pages() - pages_before > 128  # more than one new range of 128 pages
        result = dbt(
            "run", "--target", "local", "--select", "fct_transactions",
            "--vars", json.dumps({"mtx_raw_schema": RAW_SCHEMA}), target_name="brin",
        )  # fmt: skip
        assert_success(result)
        assert warehouse.execute("select brin_summarize_new_values(%s::regclass)", (index,)).fetchone()[0] == 0
    finally:
        warehouse.execute(f"alter table {raw} reset (autovacuum_enabled)")


@pytest.mark.integration
def test_fct_transactions_converts_to_usd(first_build: DbtResult, warehouse: psycopg.Connection) -> None:
    rows = by_key(query(warehouse, f"select * from {MARTS_SCHEMA}.fct_transactions"), "transaction_id")
    assert len(rows) == len(FIRST_BATCH)
    expected = {
        # transaction: (amount_usd, usd_exchange_rate, exchange_rate_date)
        "t01": (Decimal("10.3617"), Decimal("1.036168"), dt.date(2025, 1, 1)),
        "t02": (Decimal("4.9900"), Decimal("1"), dt.date(2025, 1, 1)),
        "t03": (Decimal("7.6835"), Decimal("0.00640292"), dt.date(2025, 3, 1)),
        "t05": (Decimal("9.2208"), Decimal("1.229434"), dt.date(2025, 2, 1)),
        "t07": (Decimal("3.4339"), Decimal("0.00068677"), dt.date(2025, 1, 1)),
        "t08": (Decimal("4.8454"), Decimal("0.242393"), dt.date(2025, 2, 1)),
        "t09": (Decimal("7.1948"), Decimal("0.719479"), dt.date(2026, 12, 1)),  # after the last rate
    }
    for transaction_id, (amount_usd, rate, rate_date) in expected.items():
        row = rows[transaction_id]
        assert row["amount_usd"] == amount_usd, transaction_id
        assert row["usd_exchange_rate"] == rate, transaction_id
        assert row["exchange_rate_date"] == rate_date, transaction_id
        assert row["has_exchange_rate"] is True
    no_rate = rows["t10"]
    assert (no_rate["amount_usd"], no_rate["has_exchange_rate"]) == (None, False)
    assert rows["t10"]["amount"] == Decimal("1000.000") and rows["t10"]["currency"] == "XAF"
    assert rows["t04"]["is_refunded"] is True and rows["t04"]["is_completed"] is False
    assert rows["t07"]["event_month"] == dt.date(2025, 1, 1)
    assert rows["t01"]["player_id"] == "alice"


@pytest.mark.integration
def test_dim_players_lifetime_value_and_counts(first_build: DbtResult, warehouse: psycopg.Connection) -> None:
    players = by_key(query(warehouse, f"select * from {MARTS_SCHEMA}.dim_players"), "player_id")
    assert set(players) == {"alice", "bob", "carol", "dave"}
    summary = {
        player_id: (
            row["transaction_count"],
            row["purchase_count"],
            row["refund_count"],
            row["lifetime_value_usd"],
            row["first_purchase_month"],
            row["is_repeat_purchaser"],
        )
        for player_id, row in players.items()
    }
    assert summary == {
        "alice": (4, 3, 1, Decimal("23.0352"), dt.date(2025, 1, 1), True),
        "bob": (2, 1, 0, Decimal("9.2208"), dt.date(2025, 2, 1), False),
        "carol": (2, 1, 0, Decimal("4.8454"), dt.date(2025, 2, 1), False),
        "dave": (2, 2, 0, Decimal("7.1948"), dt.date(2025, 2, 1), True),
    }
    alice = players["alice"]
    assert alice["first_purchase_at"] == dt.datetime(2025, 1, 15, 10, 0)
    assert alice["last_purchase_at"] == dt.datetime(2025, 3, 2, 12, 0)
    assert alice["last_seen_at"] == dt.datetime(2025, 3, 5, 13, 0)
    assert players["carol"]["first_seen_at"] == dt.datetime(2025, 1, 31, 23, 0)
    assert players["carol"]["first_purchase_date"] == dt.date(2025, 2, 28)


@pytest.mark.integration
def test_cohorts(first_build: DbtResult, warehouse: psycopg.Connection) -> None:
    rows = query(
        warehouse,
        f"""select cohort_month, months_since_first_purchase, cohort_size, active_player_count,
                   repeat_purchaser_count, repeat_purchase_rate, purchase_count, revenue_usd, cumulative_revenue_usd
            from {MARTS_SCHEMA}.fct_player_cohorts order by 1, 2""",
    )
    assert [tuple(r.values()) for r in rows] == [
        (dt.date(2025, 1, 1), 0, 1, 1, 1, Decimal("1.000000"), 2, Decimal("15.3517"), Decimal("15.3517")),
        (dt.date(2025, 1, 1), 2, 1, 1, 1, Decimal("1.000000"), 1, Decimal("7.6835"), Decimal("23.0352")),
        (dt.date(2025, 2, 1), 0, 3, 3, 0, Decimal("0.000000"), 3, Decimal("14.0662"), Decimal("14.0662")),
        (dt.date(2025, 2, 1), 24, 3, 1, 1, Decimal("0.333333"), 1, Decimal("7.1948"), Decimal("21.2610")),
    ]


@pytest.mark.integration
def test_revenue_marts(first_build: DbtResult, warehouse: psycopg.Connection) -> None:
    daily = by_key(
        query(warehouse, f"select * from {MARTS_SCHEMA}.fct_daily_revenue"),
        "revenue_date",
        "server_region",
        "item_type",
    )
    assert sum(r["transaction_count"] for r in daily.values()) == len(FIRST_BATCH)
    march = daily[(dt.date(2025, 3, 5), "EU-West", "currency")]
    # a refunded purchase stays a purchase in gross and leaves net (contracts/lifecycle.py revenue())
    assert (march["purchase_count"], march["refund_count"], march["revenue_usd"], march["refunded_usd"]) == (
        1,
        1,
        Decimal("0"),
        Decimal("20.0000"),
    )
    assert (march["gross_usd"], march["net_usd"]) == (Decimal("20.0000"), Decimal("0"))
    unconverted = daily[(dt.date(2025, 2, 3), "NA-East", "cosmetic")]
    assert (unconverted["purchase_count"], unconverted["revenue_usd"], unconverted["unconverted_purchase_count"]) == (
        1,
        Decimal("0"),
        1,
    )

    january = by_key(
        query(warehouse, f"select * from {MARTS_SCHEMA}.fct_item_performance where sales_month = '2025-01-01'"),
        "item_id",
    )
    assert january["mtx_abyssal_wings"]["revenue_rank_overall"] == 1  # 10.3617 (+ a pending KRW payment)
    assert january["mtx_gold_pack"]["revenue_rank_overall"] == 2  # 4.99
    assert january["mtx_abyssal_wings"]["units_sold"] == 1
    assert january["mtx_abyssal_wings"]["revenue_share_of_game"] == Decimal("0.674955")  # 10.3617 / 15.3517

    mix = by_key(
        query(warehouse, f"select * from {MARTS_SCHEMA}.fct_payment_mix where payment_month = '2025-02-01'"),
        "payment_method",
        "payment_gateway",
    )
    card = mix[("credit_card", "Stripe")]
    assert (card["transaction_count"], card["purchase_count"], card["failed_count"]) == (2, 1, 1)
    assert card["payment_success_rate"] == Decimal("0.500000")
    assert card["transaction_share_of_month"] == Decimal("0.500000")  # 2 of February's 4


@pytest.mark.integration
def test_analysts_can_read_the_marts(first_build: DbtResult, warehouse: psycopg.Connection) -> None:
    role = os.environ.get("MTX_ANALYSTS_ROLE", "mtx_analysts")
    (schema_usage,) = warehouse.execute("select has_schema_privilege(%s, %s, 'usage')", (role, MARTS_SCHEMA)).fetchone()
    assert schema_usage is True
    for mart in MARTS:
        (can_select, can_insert) = warehouse.execute(
            "select has_table_privilege(%s, %s, 'select'), has_table_privilege(%s, %s, 'insert')",
            (role, f"{MARTS_SCHEMA}.{mart}", role, f"{MARTS_SCHEMA}.{mart}"),
        ).fetchone()
        assert (can_select, can_insert) == (True, False), mart


@pytest.mark.integration
def test_the_example_analyses_run_on_the_marts(first_build: DbtResult, dbt: Dbt, warehouse: psycopg.Connection) -> None:
    """Each query in dbt/analyses compiles and returns rows from the marts (what an analyst would run)."""
    compiled = dbt(
        "compile", "--select", "resource_type:analysis", "--target", "local",
        "--vars", json.dumps({"mtx_raw_schema": RAW_SCHEMA}), target_name="analyses",
    )  # fmt: skip
    assert_success(compiled)
    folder = dbt.workdir / "analyses" / "compiled" / "mtx" / "analyses"
    results = {path.stem: query(warehouse, path.read_text()) for path in sorted(folder.glob("*.sql"))}
    assert set(results) == {p.stem for p in (DBT_DIR / "analyses").glob("*.sql")}
    assert all(results.values()), {name: len(rows) for name, rows in results.items()}
    # the month-over-month growth is the revenue against the previous month's (none without one)
    for row in results["monthly_revenue_by_region"]:
        previous, growth = row["previous_month_revenue_usd"], row["month_over_month_growth"]
        if not previous:
            assert growth is None, row
        else:
            assert abs(growth - (row["revenue_usd"] / previous - 1)) <= Decimal("0.00005"), row


# --------------------------------------------------------------------------- tests: incremental


@pytest.mark.integration
def test_incremental_run_adds_exactly_the_new_rows(incremental_run: DbtResult, warehouse: psycopg.Connection) -> None:
    fct = next(r for r in incremental_run.run_results["results"] if r["unique_id"] == "model.mtx.fct_transactions")
    # delete+insert: the 2 new transactions and the re-loaded one, nothing else
    assert fct["adapter_response"]["rows_affected"] == 3
    rows = by_key(query(warehouse, f"select * from {MARTS_SCHEMA}.fct_transactions"), "transaction_id")
    assert len(rows) == len(FIRST_BATCH) + len(SECOND_BATCH)
    assert rows["t11"]["amount_usd"] == Decimal("5.3006")
    assert rows["t12"]["amount_usd"] == Decimal("3.0000")
    assert rows["t06"]["transaction_status"] == "completed"
    assert rows["t06"]["amount_usd"] == Decimal("4.0899")  # BRL 2025-02-01 0.163594
    assert rows["t01"]["loaded_at"] == FIRST_LOAD  # untouched


@pytest.mark.integration
def test_incremental_run_updates_dim_players_and_cohorts(
    incremental_run: DbtResult, warehouse: psycopg.Connection
) -> None:
    players = by_key(query(warehouse, f"select * from {MARTS_SCHEMA}.dim_players"), "player_id")
    assert set(players) == {"alice", "bob", "carol", "dave", "erin"}
    bob, erin = players["bob"], players["erin"]
    assert (bob["transaction_count"], bob["purchase_count"], bob["lifetime_value_usd"]) == (
        3,
        3,
        Decimal("18.6113"),  # 9.2208 + 4.0899 + 5.3006
    )
    assert bob["last_purchase_at"] == dt.datetime(2025, 4, 1, 10, 0)
    assert (erin["purchase_count"], erin["lifetime_value_usd"], erin["first_purchase_month"]) == (
        1,
        Decimal("3.0000"),
        dt.date(2025, 4, 1),
    )
    assert players["alice"]["lifetime_value_usd"] == Decimal("23.0352")

    cohorts = by_key(
        query(warehouse, f"select * from {MARTS_SCHEMA}.fct_player_cohorts"),
        "cohort_month",
        "months_since_first_purchase",
    )
    february = cohorts[(dt.date(2025, 2, 1), 0)]
    assert (february["purchase_count"], february["repeat_purchaser_count"], february["revenue_usd"]) == (
        4,
        1,  # bob bought twice in his first month
        Decimal("18.1561"),
    )
    assert cohorts[(dt.date(2025, 2, 1), 2)]["active_player_count"] == 1
    assert cohorts[(dt.date(2025, 4, 1), 0)]["cohort_size"] == 1


@pytest.mark.integration
def test_incremental_state_equals_a_full_rebuild(
    incremental_run: DbtResult, warehouse: psycopg.Connection, dbt: Dbt
) -> None:
    warehouse.execute("drop schema if exists dbt_it_snapshot cascade")
    warehouse.execute("create schema dbt_it_snapshot")
    try:
        for mart in MARTS:
            warehouse.execute(f"create table dbt_it_snapshot.{mart} as select * from {MARTS_SCHEMA}.{mart}")
        rebuilt = dbt(
            "run", "--target", "local", "--full-refresh", "--vars", json.dumps({"mtx_raw_schema": RAW_SCHEMA})
        )
        assert_success(rebuilt)
        for mart in MARTS:
            (only_incremental, only_rebuilt) = rows_only_in_each(
                warehouse, f"dbt_it_snapshot.{mart}", f"{MARTS_SCHEMA}.{mart}"
            )
            assert (only_incremental, only_rebuilt) == (0, 0), mart
    finally:
        warehouse.execute("drop schema if exists dbt_it_snapshot cascade")


# --------------------------------------------------------------------------- tests: broken batch


@pytest.fixture(scope="module")
def broken_batch(first_build: DbtResult, warehouse: psycopg.Connection) -> str:
    """A landing copy with no primary key (as on Redshift, which does not enforce
    one) holding a good batch plus a duplicate (transaction_id, version) and a negative amount."""
    warehouse.execute(f"drop schema if exists {BROKEN_RAW_SCHEMA} cascade")
    warehouse.execute(f"create schema {BROKEN_RAW_SCHEMA}")
    warehouse.execute(f"create table {BROKEN_RAW_SCHEMA}.mtx_transactions (like raw.mtx_transactions)")
    bad = [
        tx("t05", "mallory", "USD", "1.00", "2025-02-12 10:00:00"),  # duplicate (transaction_id, version)
        tx("t99", "mallory", "USD", "-5.00", "2025-02-12 11:00:00"),  # negative amount
    ]
    insert_raw(warehouse, BROKEN_RAW_SCHEMA, FIRST_BATCH + bad)
    return BROKEN_RAW_SCHEMA


@pytest.mark.integration
def test_broken_batch_fails_named_tests(broken_batch: str, dbt: Dbt) -> None:
    result = dbt(
        "test", "--target", "local", "--select", "source:mtx", "--vars", json.dumps({"mtx_raw_schema": broken_batch})
    )
    assert result.returncode != 0
    statuses = result.statuses()
    failed = {uid.split(".")[2] for uid, status in statuses.items() if status == "fail"}
    assert failed == {
        "source_mtx_transactions_one_row_per_version",
        "source_positive_value_mtx_mtx_transactions_price_amount",
    }, statuses
    assert "Failure in test source_mtx_transactions_one_row_per_version" in result.output
    assert "Failure in test source_positive_value_mtx_mtx_transactions_price_amount" in result.output


@pytest.mark.integration
def test_broken_batch_never_reaches_the_marts(broken_batch: str, dbt: Dbt) -> None:
    result = dbt(
        "build",
        "--target",
        "local",
        "--vars",
        json.dumps({"mtx_raw_schema": broken_batch}),
        env={"MTX_DBT_SCHEMA": BROKEN_MARTS_SCHEMA},
        target_name="broken",
    )
    assert result.returncode != 0
    statuses = result.statuses()
    failed = {uid.split(".")[2] for uid, status in statuses.items() if status == "fail"}
    assert "source_mtx_transactions_one_row_per_version" in failed, statuses
    assert "source_positive_value_mtx_mtx_transactions_price_amount" in failed, statuses
    # everything downstream of the failed source tests is skipped: no mart is built
    for mart in MARTS:
        assert statuses[f"model.mtx.{mart}"] == "skipped", mart


# --------------------------------------------------------------------------- tests: portability, contract


@pytest.mark.integration
def test_redshift_target_parses_offline(dbt: Dbt) -> None:
    result = dbt("parse", "--target", "redshift", target_name="redshift")
    assert_success(result)
    manifest = json.loads((dbt.workdir / "redshift" / "manifest.json").read_text())
    fct = manifest["nodes"]["model.mtx.fct_transactions"]["config"]
    assert (fct["dist"], fct["sort"], fct["incremental_strategy"]) == ("player_id", ["event_date"], "delete+insert")
    assert manifest["metadata"]["adapter_type"] == "redshift"


@pytest.mark.integration
def test_dbt_docs_open_offline_with_the_lineage_graph(first_build: DbtResult, dbt: Dbt) -> None:
    """`dbt docs generate --static` (what `make run` prints): one file that renders and draws the lineage with
    no network (the non-static index.html fetches manifest.json and catalog.json, which a file:// page cannot)."""
    generated = dbt(
        "docs", "generate", "--static", "--target", "local", "--vars", json.dumps({"mtx_raw_schema": RAW_SCHEMA}),
        target_name="docs",
    )  # fmt: skip
    assert_success(generated)
    with offline_page() as browser:
        browser.open(dbt.workdir / "docs" / "static_index.html", "#!/model/model.mtx.fct_transactions")
        browser.page.wait_for_selector("text=One row per stored transaction")  # the model's description
        browser.page.click("a[title='View Lineage Graph']")
        browser.page.wait_for_function(
            "() => { const el = document.querySelector('#cy'); return el && el._cyreg && el._cyreg.cy.nodes().length }"
        )
        drawn = browser.js("document.querySelector('#cy')._cyreg.cy.nodes().map(n => n.data('unique_id'))")
        # the model's direct parents and children
        assert {
            "source.mtx.mtx.mtx_transactions",
            "model.mtx.int_transactions_filtered_to_current_version",
            "model.mtx.dim_items",
        } <= set(drawn)
        assert browser.js("Math.min(...Array.from(document.querySelectorAll('#cy canvas')).map(c => c.width))") > 0
        assert browser.remote == []


@pytest.mark.integration
def test_source_matches_the_warehouse_contract() -> None:
    sources = yaml.safe_load((DBT_DIR / "models" / "staging" / "mtx" / "_mtx__sources.yml").read_text())
    (table,) = sources["sources"][0]["tables"]
    declared = [(c["name"], c["data_type"]) for c in table["columns"]]
    assert declared == [(c.name, c.sql_type) for c in COLUMNS]


@pytest.mark.integration
def test_accepted_values_match_the_contract_enums() -> None:
    expected = {
        "item_type": {e.value for e in ItemType},
        "payment_method": {e.value for e in PaymentMethod},
        "payment_gateway": {e.value for e in Gateway},
        "server_region": {e.value for e in ServerRegion},
        "transaction_status": {e.value for e in TransactionStatus},
        "previous_status": {s.value for s, moves in MOVES.items() if moves},  # a status a version moves from
        "player_region": set(REGIONS),  # the Enrich stage's (contracts/warehouse.py)
    }
    found: dict[str, list[set[str]]] = {}
    for path in (DBT_DIR / "models").rglob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []) or []:
            for column in model.get("columns", []):
                for test in column.get("data_tests", []) or []:
                    if isinstance(test, dict) and "accepted_values" in test:
                        values = set(test["accepted_values"]["arguments"]["values"])
                        found.setdefault(column["name"], []).append(values)
    for column, value_sets in found.items():
        for values in value_sets:
            assert values == expected[column], column
    # statuses by the status history's accepted_values (every version, so every current status too)
    assert set(found) == {
        "item_type",
        "payment_method",
        "payment_gateway",
        "server_region",
        "player_region",
        "transaction_status",
        "previous_status",
    }
