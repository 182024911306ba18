"""dbt marts: full and incremental builds of the dbt project over n raw transactions.

``raw.mtx_transactions`` is filled with n deterministic pseudo-random rows by one
SQL statement (generate_series + hashint8extended): catalogue items, currencies
of the exchange-rate seed, contract enums, events over 90 days.

dbt runs two ways. As BuildMarts runs it (the analytics refresh): in this
process through ``invoke_dbt`` (dbtRunner), imported once and kept warm, as a
warm Lambda or the local runtime does; the targets are read against these
figures. And as the ``dbt`` command a user types: a fresh process each time,
which pays dbt's imports and partial parse (3-5 s here, more under load).
Timed: ``dbt parse`` (cold command), a no-op ``dbt run`` selecting nothing
(the fixed cost of a command, both ways), ``dbt build --full-refresh`` (both
ways) and ``dbt run --full-refresh``.
The baseline and the full build (both ways) alternate twice; each keeps its best time.
Baseline, same run, same rows: the same tables written by hand as
``CREATE TABLE ... AS`` statements (psycopg, schema ``bench_baseline``); their
content is compared with dbt's tables (EXCEPT ALL both ways). They make the models'
SQL choices too (the player-month intermediate, distinct ids counted bytewise), so
the ratio measures what dbt adds, not a difference in the queries.
Size: ``MTX_BENCH_DBT_ROWS`` raw rows (default 1,000,000).

Incremental: three times 1% new rows (newer loaded_at) and ``dbt run``, the best
of the three compared (as the full build is); then ``dbt run`` twice with no new
rows (dbt's fixed cost, the floor under it; the better one is kept); another 1%
then ``dbt build``, another 1% then ``dbt run`` as a command; shares of the full
build (the issue's target: the incremental run under 15% of the full build). The
marts after the incremental runs are compared with a baseline recomputation from
scratch. Last, the incremental runs again over a year of history (same rows).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.common import Report, bench_stack
from contracts.transaction import Gateway, PaymentMethod, ServerRegion
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.catalogue import CATALOGUE
from orchestration.settings import REPO_ROOT

DBT_DIR = REPO_ROOT / "dbt"
SEED = DBT_DIR / "seeds" / "exchange_rates.csv"
SCHEMA = "analytics"
BASE = "bench_baseline"
FIRST_DAY = "2025-10-01"
DAYS = 90
#: full builds and baselines, alternated; each side keeps its best time
REPEATS = 2
#: incremental runs after 1% new rows each; the best is compared (the box is noisy)
INC_REPEATS = 3

#: table -> schema of the dbt relation (marts in the target schema, intermediate apart)
TABLES = {
    "int_exchange_rates_filled_to_days": f"{SCHEMA}_intermediate",
    "fct_transactions": SCHEMA,
    "int_transactions_aggregated_to_player_months": f"{SCHEMA}_intermediate",
    "dim_items": SCHEMA,
    "dim_players": SCHEMA,
    "fct_daily_revenue": SCHEMA,
    "fct_payment_mix": SCHEMA,
    "fct_item_performance": SCHEMA,
    "fct_player_cohorts": SCHEMA,
}


# ----------------------------------------------------------------------------- data
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


# ----------------------------------------------------------------------------- baseline
BASELINE_SQL: list[tuple[str, str]] = [
    (
        "int_exchange_rates_filled_to_days",
        """
        create table {b}.int_exchange_rates_filled_to_days as
        select
            cast(p.currency as varchar(3)) as currency,
            cast(d.day as date) as rate_valid_date,
            p.rate_date,
            cast(p.usd_per_unit as numeric(18, 8)) as usd_per_unit,
            p.next_rate_date is null as is_latest_rate
        from (
            select *, lead(rate_date) over (partition by currency order by rate_date) as next_rate_date
            from {b}.exchange_rates
        ) as p
        cross join lateral generate_series(
            p.rate_date, coalesce(p.next_rate_date - 1, p.rate_date), interval '1 day'
        ) as d(day)
        """,
    ),
    (
        "fct_transactions",
        """
        create table {b}.fct_transactions as
        select
            r.transaction_id,
            r.user_id as player_id,
            r.game, r.item_id, r.item_name, r.item_type,
            r.price_amount as amount,
            cast(r.price_currency as varchar(3)) as currency,
            cast(round(r.price_amount * coalesce(d.usd_per_unit, l.usd_per_unit), 4) as numeric(18, 4)) as amount_usd,
            coalesce(d.usd_per_unit, l.usd_per_unit) as usd_exchange_rate,
            coalesce(d.rate_date, l.rate_date) as exchange_rate_date,
            coalesce(d.usd_per_unit, l.usd_per_unit) is not null as has_exchange_rate,
            r.payment_method, r.payment_gateway, r.transaction_status,
            r.transaction_status = 'completed' as is_completed,
            r.transaction_status = 'refunded' as is_refunded,
            r.server_region, r.event_at, r.event_date,
            cast(date_trunc('month', r.event_at) as date) as event_month,
            r.ingested_at,
            r.source_partition as source_partition_date,
            r.loaded_at
        from {raw}.mtx_transactions as r
        left join {b}.int_exchange_rates_filled_to_days as d
            on cast(r.price_currency as varchar(3)) = d.currency and r.event_date = d.rate_valid_date
        left join {b}.int_exchange_rates_filled_to_days as l
            on l.is_latest_rate and cast(r.price_currency as varchar(3)) = l.currency and r.event_date > l.rate_date
        """,
    ),
    ("analyze fct_transactions", "analyze {b}.fct_transactions"),
    (
        "int_transactions_aggregated_to_player_months",
        """
        create table {b}.int_transactions_aggregated_to_player_months as
        select
            player_id,
            event_month as activity_month,
            count(*) as transaction_count,
            count(*) filter (where is_completed) as purchase_count,
            count(*) filter (where is_refunded) as refund_count,
            cast(sum(amount_usd) filter (where is_completed) as numeric(20, 4)) as revenue_usd,
            min(event_at) as first_seen_at,
            max(event_at) as last_seen_at,
            min(event_at) filter (where is_completed) as first_purchase_at,
            max(event_at) filter (where is_completed) as last_purchase_at,
            max(loaded_at) as last_loaded_at
        from {b}.fct_transactions
        group by player_id, event_month
        """,
    ),
    ("analyze player months", "analyze {b}.int_transactions_aggregated_to_player_months"),
    (
        "dim_items",
        """
        create table {b}.dim_items as
        with activity as (
            select item_id, min(event_at) as first_seen_at, max(event_at) as last_seen_at,
                max(loaded_at) as last_loaded_at
            from {b}.fct_transactions
            group by item_id
        ),
        latest as (
            select distinct on (t.item_id) t.item_id, t.item_name, t.item_type, t.game
            from {b}.fct_transactions as t
            join activity as a on t.item_id = a.item_id and t.event_at = a.last_seen_at
            order by t.item_id, t.transaction_id desc
        )
        select a.item_id, l.item_name, l.item_type, l.game, a.first_seen_at, a.last_seen_at, a.last_loaded_at
        from activity as a
        join latest as l on l.item_id = a.item_id
        """,
    ),
    (
        "dim_players",
        """
        create table {b}.dim_players as
        select
            player_id,
            min(first_seen_at) as first_seen_at,
            max(last_seen_at) as last_seen_at,
            min(first_purchase_at) as first_purchase_at,
            max(last_purchase_at) as last_purchase_at,
            cast(min(first_purchase_at) as date) as first_purchase_date,
            cast(date_trunc('month', min(first_purchase_at)) as date) as first_purchase_month,
            cast(sum(transaction_count) as bigint) as transaction_count,
            cast(sum(purchase_count) as bigint) as purchase_count,
            cast(sum(refund_count) as bigint) as refund_count,
            cast(coalesce(sum(revenue_usd), 0) as numeric(20, 4)) as lifetime_value_usd,
            sum(purchase_count) > 1 as is_repeat_purchaser,
            max(last_loaded_at) as last_loaded_at
        from {b}.int_transactions_aggregated_to_player_months
        group by player_id
        """,
    ),
    (
        "fct_daily_revenue",
        """
        create table {b}.fct_daily_revenue as
        select
            event_date as revenue_date, game, server_region, item_type,
            count(*) as transaction_count,
            count(*) filter (where is_completed) as purchase_count,
            count(*) filter (where is_refunded) as refund_count,
            count(*) filter (where transaction_status = 'failed') as failed_count,
            count(*) filter (where transaction_status = 'pending') as pending_count,
            count(distinct player_id collate "C") filter (where is_completed) as paying_player_count,
            cast(coalesce(sum(amount_usd) filter (where is_completed), 0) as numeric(20, 4)) as revenue_usd,
            cast(coalesce(sum(amount_usd) filter (where is_refunded), 0) as numeric(20, 4)) as refunded_usd,
            count(*) filter (where is_completed and not has_exchange_rate) as unconverted_purchase_count,
            max(loaded_at) as last_loaded_at
        from {b}.fct_transactions
        group by event_date, game, server_region, item_type
        """,
    ),
    (
        "fct_payment_mix",
        """
        create table {b}.fct_payment_mix as
        with mix as (
            select
                event_month as payment_month, payment_method, payment_gateway,
                count(*) as transaction_count,
                count(*) filter (where is_completed) as purchase_count,
                count(*) filter (where is_refunded) as refund_count,
                count(*) filter (where transaction_status = 'failed') as failed_count,
                count(*) filter (where transaction_status = 'pending') as pending_count,
                coalesce(sum(amount_usd) filter (where is_completed), 0) as revenue_usd,
                max(loaded_at) as last_loaded_at
            from {b}.fct_transactions
            group by event_month, payment_method, payment_gateway
        ),
        totals as (
            select *,
                sum(transaction_count) over w as month_transaction_count,
                sum(revenue_usd) over w as month_revenue_usd
            from mix
            window w as (partition by payment_month)
        )
        select
            payment_month, payment_method, payment_gateway,
            transaction_count, purchase_count, refund_count, failed_count, pending_count,
            cast(case when purchase_count + refund_count + failed_count > 0 then round(
                cast(purchase_count + refund_count as numeric(20, 6))
                / (purchase_count + refund_count + failed_count), 6
            ) end as numeric(9, 6)) as payment_success_rate,
            cast(revenue_usd as numeric(20, 4)) as revenue_usd,
            cast(round(cast(transaction_count as numeric(20, 6)) / month_transaction_count, 6) as numeric(9, 6))
                as transaction_share_of_month,
            cast(case when month_revenue_usd > 0 then round(revenue_usd / month_revenue_usd, 6) end as numeric(9, 6))
                as revenue_share_of_month,
            last_loaded_at
        from totals
        """,
    ),
    (
        "fct_item_performance",
        """
        create table {b}.fct_item_performance as
        with item_months as (
            select
                event_month as sales_month, item_id,
                count(*) filter (where is_completed) as units_sold,
                count(distinct player_id collate "C") filter (where is_completed) as buyer_count,
                coalesce(sum(amount_usd) filter (where is_completed), 0) as revenue_usd,
                count(*) filter (where is_refunded) as refund_count,
                max(loaded_at) as last_loaded_at
            from {b}.fct_transactions
            group by event_month, item_id
        ),
        ranked as (
            select m.*, i.item_name, i.item_type, i.game,
                rank() over (partition by m.sales_month order by m.revenue_usd desc) as rank_overall,
                rank() over (partition by m.sales_month, i.game order by m.revenue_usd desc) as rank_in_game,
                sum(m.revenue_usd) over (partition by m.sales_month, i.game) as game_revenue_usd
            from item_months as m
            join {b}.dim_items as i on i.item_id = m.item_id
        )
        select
            sales_month, item_id, item_name, item_type, game,
            units_sold, buyer_count,
            cast(revenue_usd as numeric(20, 4)) as revenue_usd,
            refund_count,
            cast(case when units_sold + refund_count > 0
                then round(cast(refund_count as numeric(20, 6)) / (units_sold + refund_count), 6)
            end as numeric(9, 6)) as refund_rate,
            cast(rank_overall as integer) as revenue_rank_overall,
            cast(rank_in_game as integer) as revenue_rank_in_game,
            cast(case when game_revenue_usd > 0 then round(revenue_usd / game_revenue_usd, 6) end as numeric(9, 6))
                as revenue_share_of_game,
            last_loaded_at
        from ranked
        """,
    ),
    (
        "fct_player_cohorts",
        """
        create table {b}.fct_player_cohorts as
        with players as (
            select player_id, first_purchase_month as cohort_month
            from {b}.dim_players
            where first_purchase_month is not null
        ),
        sizes as (
            select cohort_month, count(*) as cohort_size from players group by cohort_month
        ),
        activity as (
            select
                p.cohort_month, m.activity_month,
                count(*) as active_player_count,
                count(*) filter (where m.activity_month > p.cohort_month or m.purchase_count > 1)
                    as repeat_purchaser_count,
                sum(m.purchase_count) as purchase_count,
                sum(m.revenue_usd) as revenue_usd
            from {b}.int_transactions_aggregated_to_player_months as m
            join players as p on p.player_id = m.player_id
            where m.purchase_count > 0
            group by p.cohort_month, m.activity_month
        )
        select
            a.cohort_month,
            cast((extract(year from a.activity_month) - extract(year from a.cohort_month)) * 12
                + (extract(month from a.activity_month) - extract(month from a.cohort_month)) as integer)
                as months_since_first_purchase,
            a.activity_month,
            s.cohort_size,
            a.active_player_count,
            a.repeat_purchaser_count,
            cast(round(cast(a.repeat_purchaser_count as numeric(20, 6)) / s.cohort_size, 6) as numeric(9, 6))
                as repeat_purchase_rate,
            cast(round(cast(a.active_player_count as numeric(20, 6)) / s.cohort_size, 6) as numeric(9, 6))
                as active_player_rate,
            cast(a.purchase_count as bigint) as purchase_count,
            cast(coalesce(a.revenue_usd, 0) as numeric(20, 4)) as revenue_usd,
            cast(sum(coalesce(a.revenue_usd, 0)) over (
                partition by a.cohort_month order by a.activity_month
                rows between unbounded preceding and current row
            ) as numeric(20, 4)) as cumulative_revenue_usd
        from activity as a
        join sizes as s on s.cohort_month = a.cohort_month
        """,
    ),
]


def run_baseline(dsn: str) -> tuple[float, dict[str, float]]:
    """Drop and rebuild the baseline schema; (total seconds, seconds per statement)."""
    steps: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {BASE} cascade")
        t0 = time.perf_counter()
        conn.execute(f"create schema {BASE}")
        conn.execute(
            f"create table {BASE}.exchange_rates (rate_date date, currency varchar(3), usd_per_unit numeric(18, 8))"
        )
        with conn.cursor().copy(f"copy {BASE}.exchange_rates from stdin with (format csv, header true)") as copy:
            copy.write(SEED.read_bytes())
        steps["exchange_rates"] = time.perf_counter() - t0
        for name, sql in BASELINE_SQL:
            t1 = time.perf_counter()
            conn.execute(sql.format(b=BASE, raw="raw").encode())
            steps[name] = time.perf_counter() - t1
        total = time.perf_counter() - t0
    return total, {k: round(v, 2) for k, v in steps.items()}


def compare(dsn: str) -> dict[str, Any]:
    """Rows of each dbt table and whether the baseline table holds exactly the same rows."""
    out: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, schema in TABLES.items():
            cols = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = %s and table_name = %s order by ordinal_position",
                    (schema, table),
                )
            ]
            col_list = ", ".join(cols)
            dbt_rel, base_rel = f"{schema}.{table}", f"{BASE}.{table}"
            diff = "select count(*) from (select {c} from {a} except all select {c} from {b}) as x"
            only_dbt = conn.execute(diff.format(c=col_list, a=dbt_rel, b=base_rel)).fetchone()[0]  # type: ignore[index]
            only_base = conn.execute(diff.format(c=col_list, a=base_rel, b=dbt_rel)).fetchone()[0]  # type: ignore[index]
            rows = conn.execute(f"select count(*) from {dbt_rel}").fetchone()[0]  # type: ignore[index]
            out[table] = {"rows": rows, "same_content": only_dbt == 0 and only_base == 0}
            if only_dbt or only_base:
                out[table].update({"rows_only_in_dbt": only_dbt, "rows_only_in_baseline": only_base})
    return out


# ----------------------------------------------------------------------------- dbt
class Dbt:
    """`dbt` as a command (a fresh process each time: what a user types)."""

    def __init__(self, stack: LocalStack, work: Path) -> None:
        self.env = {
            **os.environ,
            **stack.env(),
            "MTX_DBT_SCHEMA": SCHEMA,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        self.exe = str(Path(sys.executable).with_name("dbt"))
        self.work = work

    def __call__(self, *args: str) -> float:
        cmd = [
            self.exe, *args,
            "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target", "local",
            "--target-path", str(self.work / "target"), "--log-path", str(self.work / "logs"),
        ]  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=DBT_DIR, check=False)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            tail = "\n".join(done.stdout.strip().splitlines()[-30:])
            raise RuntimeError(f"dbt {' '.join(args)} failed (exit {done.returncode}):\n{tail}\n{done.stderr[-2000:]}")
        return elapsed


class Runner:
    """dbt as BuildMarts runs it: in this process (`invoke_dbt`), dbt imported once and kept warm."""

    def __init__(self) -> None:
        os.environ["MTX_DBT_SCHEMA"] = SCHEMA
        self.last: dict[str, Any] = {}

    def __call__(self, *args: str) -> float:
        from lambdas.build_marts.handler import invoke_dbt

        done = invoke_dbt(*args, target="local")
        if not done.success:
            raise RuntimeError(f"{done.summary()} failed: {done.failure_reason()}")
        per = {n.unique_id.split(".", 2)[-1]: round(n.seconds, 2) for n in done.nodes}
        top = dict(sorted(per.items(), key=lambda kv: -kv[1])[:12])
        self.last = {"sum_seconds": _r(sum(per.values())), "nodes": len(per), "slowest": top}
        return done.seconds

    def node_seconds(self) -> dict[str, Any]:
        """Seconds per node of the last command (dbt's own results), slowest first, and their sum."""
        return self.last


def late_batch(dsn: str, first: int, count: int, *, loaded_at: str, salt: int, days: int) -> None:
    """count new rows: events in the last 3 of `days` days, loaded at `loaded_at` (after everything else)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        load_prices(conn)
        fill_raw(conn, first, count, loaded_at=loaded_at, salt=salt, days=(days - 3, days))


def incremental_runs(
    runner: Runner, dsn: str, first: int, delta: int, *, days: int, load_day: str, salt: int
) -> list[tuple[float, dict[str, Any]]]:
    """INC_REPEATS times: a late batch of delta rows, then `dbt run`; (seconds, node seconds) of each run."""
    samples = []
    for k in range(INC_REPEATS):
        late_batch(
            dsn, first + k * delta, delta, loaded_at=f"{load_day} {6 + 3 * k:02d}:00:00", salt=salt * (k + 1),
            days=days,
        )  # fmt: skip
        samples.append((runner("run"), runner.node_seconds()))
    return samples


def year_of_history(runner: Runner, dsn: str, n: int) -> dict[str, Any]:
    """The incremental measurement again with the same n rows spread over a year instead of 90 days.

    A late batch lands in the last days, so the month-grain marts recompute that month whole (ranks,
    shares and distinct buyers are not additive): a third of all rows over 90 days, a twelfth over a
    year. Raw is refilled; nothing after this reads the 90-day tables.
    """
    days, delta = 365, max(1, n // 100)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("truncate raw.mtx_transactions")
        load_prices(conn)
        fill_raw(conn, 0, n, loaded_at="hourly", salt=0, days=(0, days))
    build_s = runner("build", "--full-refresh")
    runs = [
        seconds for seconds, _ in incremental_runs(runner, dsn, n, delta, days=days, load_day="2026-10-02", salt=901)
    ]
    return {
        "days_of_history": days,
        "dbt_build_full_refresh_seconds": _r(build_s),
        "dbt_run_samples_seconds": [_r(x) for x in runs],
        "run_share_of_full_build": _r(min(runs) / build_s),
        "note": (
            "same rows, same 1% late batches (last 3 days), history over a year: the month the batch lands "
            "in holds a twelfth of the rows instead of a third; the best of the samples is compared"
        ),
    }


def _r(x: float) -> float:
    return round(x, 2)


def _share(part: dict[str, Any], whole: dict[str, Any]) -> float | None:
    if not part.get("sum_seconds") or not whole.get("sum_seconds"):
        return None
    return _r(part["sum_seconds"] / whole["sum_seconds"])


def run(report: Report, n: int | None = None) -> None:
    if n is None:
        n = int(os.environ.get("MTX_BENCH_DBT_ROWS", "1000000").replace("_", ""))
    with bench_stack(time_scale=1.0) as stack:
        home = stack.home
        dsn = stack.dsn("warehouse")
        dbt = Dbt(stack, home)
        with psycopg.connect(dsn, autocommit=True) as conn:
            load_prices(conn)
            t0 = time.perf_counter()
            fill_raw(conn, 0, n, loaded_at="hourly", salt=0, days=(0, DAYS))
            fill_s = time.perf_counter() - t0

        # dbt as a command: a fresh process pays imports and parsing every time
        parse_s = dbt("parse", "--no-partial-parse")
        dbt("parse")  # leaves a partial-parse file: later commands start like a warm deployment
        noop_cli_s = dbt("run", "--select", "tag:mtx_bench_nothing")

        # dbt as BuildMarts runs it (in process, warm): the figures the targets are read against
        runner = Runner()
        first_runner_s = runner("parse")  # a cold container: imports dbt, parses
        noop_s = runner("run", "--select", "tag:mtx_bench_nothing")
        # this box is noisy (one effective core, autovacuum after every million-row table): the
        # baseline, the full build and the full build as a command alternate, twice; each keeps its best
        # (seconds, what that sample measured per step or node): the best sample keeps its detail
        baselines: list[tuple[float, dict[str, float]]] = []
        builds: list[tuple[float, dict[str, Any]]] = []
        cli_builds: list[float] = []
        for _ in range(REPEATS):
            baselines.append(run_baseline(dsn))
            builds.append((runner("build", "--full-refresh"), runner.node_seconds()))
            cli_builds.append(dbt("build", "--full-refresh"))
        base_s, base_steps = min(baselines, key=lambda sample: sample[0])
        build_full_s, build_full_nodes = min(builds, key=lambda sample: sample[0])
        build_full_cli_s = min(cli_builds)
        run_full_s = runner("run", "--full-refresh")
        run_full_nodes = runner.node_seconds()
        full_check = compare(dsn)

        delta = max(1, n // 100)

        # incremental runs, each after its own 1% batch; the best one is compared, as for the full build
        incs = incremental_runs(runner, dsn, n, delta, days=DAYS, load_day="2026-01-02", salt=101)
        run_inc_s, run_inc_nodes = min(incs, key=lambda sample: sample[0])
        # the floor under them: the same run with nothing new to process (watermarks, dbt's per-model work)
        noops = [(runner("run"), runner.node_seconds()) for _ in range(2)]
        noop_inc_s, noop_inc_nodes = min(noops, key=lambda sample: sample[0])
        late_batch(dsn, n + INC_REPEATS * delta, delta, loaded_at="2026-01-02 18:00:00", salt=707, days=DAYS)
        build_inc_s = runner("build")
        build_inc_nodes = runner.node_seconds()
        late_batch(dsn, n + (INC_REPEATS + 1) * delta, delta, loaded_at="2026-01-02 21:00:00", salt=808, days=DAYS)
        run_inc_cli_s = dbt("run")
        base2_s, _ = run_baseline(dsn)
        inc_check = compare(dsn)
        year = year_of_history(runner, dsn, n)

        data = {
            "raw_rows": n,
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "incremental_batch_rows": delta,
            "fill_raw_seconds": _r(fill_s),
            "how_dbt_runs": (
                "runner = the way BuildMarts (the analytics refresh) runs dbt: in process through dbtRunner, "
                "imported once and kept warm, as a warm Lambda or the local runtime does; the targets are read "
                "against it; a cold container (the daily schedule mostly finds one) adds "
                "runner_first_invocation_seconds once. cli = `dbt ...` typed in a shell: a fresh process each "
                "time, which first imports dbt and reads its partial-parse file (see dbt_overhead)"
            ),
            "dbt_overhead": {
                "cli_parse_no_partial_parse_seconds": _r(parse_s),
                "cli_noop_run_seconds": _r(noop_cli_s),
                "runner_first_invocation_seconds": _r(first_runner_s),
                "runner_noop_run_seconds": _r(noop_s),
                "note": "noop = `dbt run` selecting nothing, with the partial-parse file: fixed cost of a command",
            },
            "full_refresh": {
                "dbt_build_seconds": _r(build_full_s),
                "dbt_run_seconds": _r(run_full_s),
                "cli_dbt_build_seconds": _r(build_full_cli_s),
                "baseline_ctas_seconds": _r(base_s),
                "samples": {
                    "dbt_build_seconds": [_r(x) for x, _ in builds],
                    "baseline_ctas_seconds": [_r(x) for x, _ in baselines],
                    "cli_dbt_build_seconds": [_r(x) for x in cli_builds],
                    "note": f"alternated, {REPEATS} each; the best of each side is compared",
                },
                "baseline_steps_seconds": base_steps,
                "ratio_dbt_build_vs_baseline": _r(build_full_s / base_s),
                "ratio_dbt_run_vs_baseline": _r(run_full_s / base_s),
                "ratio_cli_dbt_build_vs_baseline": _r(build_full_cli_s / base_s),
                "target_ratio_build": 1.5,
                "build_within_target": build_full_s / base_s <= 1.5,
                "cli_build_within_target": build_full_cli_s / base_s <= 1.5,
                "baseline_same_content_as_dbt": full_check,
            },
            "incremental_1pct": {
                "dbt_run_seconds": _r(run_inc_s),
                "dbt_run_samples_seconds": [_r(x) for x, _ in incs],
                "noop_dbt_run_seconds": _r(noop_inc_s),
                "noop_run_share_of_full_build": _r(noop_inc_s / build_full_s),
                "note_noop": (
                    "an incremental `dbt run` with no new rows: dbt's fixed cost per command and per model "
                    "(watermark queries, temporary table, contract and schema checks, grants, comments), "
                    "the floor under the incremental run on this machine"
                ),
                "dbt_build_seconds": _r(build_inc_s),
                "cli_dbt_run_seconds": _r(run_inc_cli_s),
                "run_share_of_full_build": _r(run_inc_s / build_full_s),
                "run_share_of_full_run": _r(run_inc_s / run_full_s),
                "build_share_of_full_build": _r(build_inc_s / build_full_s),
                "cli_run_share_of_cli_full_build": _r(run_inc_cli_s / build_full_cli_s),
                "target_share": 0.15,
                "run_within_target": run_inc_s / build_full_s <= 0.15,
                "note_target": (
                    "the issue's target: the incremental `dbt run` after 1% new rows as a share of the full "
                    "`dbt build`; the other shares are reported beside it"
                ),
                "run_share_of_node_seconds": _share(run_inc_nodes, run_full_nodes),
                "build_share_of_node_seconds": _share(build_inc_nodes, build_full_nodes),
                "note_node_seconds": (
                    "informational: the same shares over the sum of dbt's per-node seconds, i.e. without "
                    "the fixed cost of each command; per-node overhead stays in"
                ),
                "baseline_recompute_seconds_at_103pct": _r(base2_s),
                "marts_after_incrementals_equal_full_recompute": inc_check,
            },
            "dbt_node_seconds": {
                "note": "dbt's own per-node execution times (runner); the rest of a command is fixed cost",
                "full_build": build_full_nodes,
                "full_run": run_full_nodes,
                "incremental_run": run_inc_nodes,
                "incremental_run_no_new_rows": noop_inc_nodes,
                "incremental_build": build_inc_nodes,
            },
            "note": (
                "dbt build = seed + models + data/unit tests + grants; dbt run = models + grants only. "
                "Baseline = hand-written CREATE TABLE AS (+ ANALYZE of the tables read again), no indexes, "
                "no tests, no grants; dbt also creates the indexes its incremental runs rely on."
            ),
        }
        data["incremental_1pct_year_of_history"] = year
        report.add("dbt marts (full vs hand-written SQL, incremental)", data)
