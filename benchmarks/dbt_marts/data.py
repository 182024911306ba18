"""Raw rows for the dbt marts benchmark: n deterministic pseudo-random transactions in one SQL statement.

``fill_raw`` inserts rows into ``raw.mtx_transactions`` with generate_series + hashint8extended:
catalogue items priced in the currencies of the exchange-rate seed, contract enums, events over
``DAYS`` days from ``FIRST_DAY``. Also read by the analytics API benchmark.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import Any

import psycopg

from contracts.transaction import Gateway, PaymentMethod, ServerRegion
from orchestration.sample_data.catalogue import CATALOGUE
from orchestration.settings import REPO_ROOT

SEED = REPO_ROOT / "dbt" / "seeds" / "exchange_rates.csv"
FIRST_DAY = "2025-10-01"
DAYS = 90


def _latest_rates() -> dict[str, Decimal]:
    latest: dict[str, tuple[str, Decimal]] = {}
    with SEED.open() as fh:
        for row in csv.DictReader(fh):
            cur = latest.get(row["currency"])
            if cur is None or row["rate_date"] > cur[0]:
                latest[row["currency"]] = (row["rate_date"], Decimal(row["usd_per_unit"]))
    return {c: r for c, (_, r) in sorted(latest.items())}


def _price_rows() -> tuple[list[tuple[Any, ...]], list[str]]:
    """(item_no, item_id, item_name, item_type, game, currency, amount) for every seed currency."""
    rates = _latest_rates()
    rows = []
    for k, item in enumerate(CATALOGUE):
        usd = item.prices["USD"]
        for currency, rate in rates.items():
            amount = item.prices.get(currency)
            if amount is None:  # not in the tier table: the USD tier at the latest rate
                amount = (usd / rate).quantize(Decimal("1") if rate < Decimal("0.01") else Decimal("0.01"))
            rows.append((k, item.item_id, item.item_name, str(item.item_type), item.game, currency, amount))
    # weights: USD 40%, EUR 20%, GBP 10%, the rest share 30%
    others = [c for c in rates if c not in ("USD", "EUR", "GBP")]
    weighted = ["USD"] * 40 + ["EUR"] * 20 + ["GBP"] * 10 + [others[i % len(others)] for i in range(30)]
    return rows, weighted


def _sql_array(values: list[str]) -> str:
    return "array[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"


def fill_raw(
    conn: psycopg.Connection[Any], first: int, count: int, *, loaded_at: str, salt: int, days: tuple[int, int]
) -> None:
    """Insert rows first..first+count-1; events on days [days[0], days[1]) after FIRST_DAY."""
    players = max(1_000, (first + count) // 20)
    statuses = ["completed"] * 85 + ["failed"] * 7 + ["pending"] * 3 + ["refunded"] * 5
    n_items = len(CATALOGUE)
    _, currencies = _price_rows()
    load_expr = "date_trunc('hour', e.event_at) + interval '2 hours'" if loaded_at == "hourly" else f"'{loaded_at}'"
    conn.execute(
        f"""
        insert into raw.mtx_transactions
        select
            'tx-' || lpad(g.i::text, 10, '0'),
            'user_' || (abs(hashint8extended(g.i, {salt} + 1)) % {players}),
            p.game, p.item_id, p.item_name, p.item_type, p.amount, p.currency,
            (g.methods)[1 + abs(hashint8extended(g.i, {salt} + 4)) % cardinality(g.methods)],
            (g.gateways)[1 + abs(hashint8extended(g.i, {salt} + 5)) % cardinality(g.gateways)],
            (g.statuses)[1 + abs(hashint8extended(g.i, {salt} + 6)) % cardinality(g.statuses)],
            (g.regions)[1 + abs(hashint8extended(g.i, {salt} + 7)) % cardinality(g.regions)],
            e.event_at,
            e.event_at + make_interval(secs => 1 + abs(hashint8extended(g.i, {salt} + 8)) % 30),
            e.event_at::date,
            e.event_at::date,
            {load_expr}
        from (
            select
                i,
                {_sql_array([str(m) for m in PaymentMethod])} as methods,
                {_sql_array([str(m) for m in Gateway])} as gateways,
                {_sql_array(statuses)} as statuses,
                {_sql_array([str(m) for m in ServerRegion])} as regions,
                {_sql_array(currencies)} as currencies
            from generate_series({first}::bigint, {first + count - 1}::bigint) as g(i)
        ) as g
        cross join lateral (
            select timestamp '{FIRST_DAY}'
                + make_interval(days => {days[0]} + (abs(hashint8extended(g.i, {salt} + 9)) % {days[1] - days[0]})::int)
                + make_interval(secs => abs(hashint8extended(g.i, {salt} + 10)) % 86400) as event_at
        ) as e
        join pg_temp.bench_prices as p
            on p.item_no = abs(hashint8extended(g.i, {salt} + 2)) % {n_items}
            and p.currency = (g.currencies)[1 + abs(hashint8extended(g.i, {salt} + 3)) % cardinality(g.currencies)]
        """
    )
    conn.execute("analyze raw.mtx_transactions")


def load_prices(conn: psycopg.Connection[Any]) -> None:
    rows, _ = _price_rows()
    conn.execute(
        "create temp table if not exists bench_prices (item_no int, item_id text, item_name text,"
        " item_type text, game text, currency text, amount numeric(18,3))"
    )
    conn.execute("truncate bench_prices")
    with conn.cursor().copy("copy bench_prices from stdin") as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute("create index on bench_prices (item_no, currency)")
    conn.execute("analyze bench_prices")


def late_batch(dsn: str, first: int, count: int, *, loaded_at: str, salt: int, days: int) -> None:
    """count new rows: events in the last 3 of `days` days, loaded at `loaded_at` (after everything else)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        load_prices(conn)
        fill_raw(conn, first, count, loaded_at=loaded_at, salt=salt, days=(days - 3, days))
