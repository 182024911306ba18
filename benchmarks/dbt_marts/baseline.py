"""The dbt marts benchmark's baseline: the same tables written by hand as CREATE TABLE AS (``baseline.sql``).

Built in schema ``bench_baseline`` from the same raw rows, timed statement by statement, and
compared with dbt's tables (EXCEPT ALL both ways).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.dbt_marts.data import SEED

SCHEMA = "analytics"
#: the schema baseline.sql writes to
BASE = "bench_baseline"
BASELINE_SQL_FILE = Path(__file__).with_name("baseline.sql")

#: table -> schema of the dbt relation (marts in the target schema, intermediate apart)
TABLES = {
    "int_exchange_rates_filled_to_days": f"{SCHEMA}_intermediate",
    "fct_transactions": SCHEMA,
    "fct_transaction_status_history": SCHEMA,
    "int_transactions_aggregated_to_player_months": f"{SCHEMA}_intermediate",
    "dim_items": SCHEMA,
    "dim_players": SCHEMA,
    "fct_daily_revenue": SCHEMA,
    "fct_hourly_revenue": SCHEMA,
    "fct_payment_mix": SCHEMA,
    "fct_item_performance": SCHEMA,
    "fct_player_cohorts": SCHEMA,
}


def baseline_steps(path: Path = BASELINE_SQL_FILE) -> list[tuple[str, str]]:
    """(step name, statement) in file order: each statement follows its ``-- step: <name>`` line."""
    parts = re.split(r"^-- step: (.+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    steps = [
        (name.strip(), sql.strip().rstrip(";").strip()) for name, sql in zip(parts[1::2], parts[2::2], strict=True)
    ]
    if not steps or not all(sql for _, sql in steps):
        raise ValueError(f"{path.name}: every `-- step:` line must be followed by a statement")
    return steps


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
        for name, sql in baseline_steps():
            t1 = time.perf_counter()
            conn.execute(sql.encode())
            steps[name] = time.perf_counter() - t1
        total = time.perf_counter() - t0
    return total, {k: round(v, 2) for k, v in steps.items()}


def _columns(conn: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    """The relation's column names in their order (none when it does not exist)."""
    return [
        str(r[0])
        for r in conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
    ]


def _count(conn: psycopg.Connection[Any], sql: str) -> int:
    row = conn.execute(sql.encode()).fetchone()
    if row is None:
        raise RuntimeError(f"no row from {sql!r}")
    return int(row[0])


def compare(dsn: str) -> dict[str, Any]:
    """Rows of each dbt table and whether the baseline table holds exactly the same rows.

    A baseline table that lacks some of the dbt table's columns is reported (``same_content``
    false, ``missing_in_baseline``) rather than compared.
    """
    out: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, schema in TABLES.items():
            cols = _columns(conn, schema, table)
            dbt_rel, base_rel = f"{schema}.{table}", f"{BASE}.{table}"
            rows = _count(conn, f"select count(*) from {dbt_rel}")
            base_cols = set(_columns(conn, BASE, table))
            missing = [c for c in cols if c not in base_cols]
            if missing:
                out[table] = {"rows": rows, "same_content": False, "missing_in_baseline": missing}
                continue
            col_list = ", ".join(cols)
            diff = "select count(*) from (select {c} from {a} except all select {c} from {b}) as x"
            only_dbt = _count(conn, diff.format(c=col_list, a=dbt_rel, b=base_rel))
            only_base = _count(conn, diff.format(c=col_list, a=base_rel, b=dbt_rel))
            out[table] = {"rows": rows, "same_content": only_dbt == 0 and only_base == 0}
            if only_dbt or only_base:
                out[table].update({"rows_only_in_dbt": only_dbt, "rows_only_in_baseline": only_base})
    return out
