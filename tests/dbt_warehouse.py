"""A dbt test module's own schemas in the test warehouse: a raw copy it loads, the schemas dbt builds, comparisons.

Each module of tests/integration/dbt names its own raw schema and marts schema, so that the modules neither read
nor disturb each other's tables (or what else lives in the warehouse).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg

from contracts import CONTRACT_VERSION
from contracts.warehouse import COLUMNS

#: the Enrich stage's fields of the tests' raw rows (one player country and region, one item category and list price)
ENRICHED: dict[str, Any] = {
    "country": "GB",
    "region": "europe",
    "item_category": "vanity",
    "list_price_usd": Decimal("10.00"),
    "contract_version": CONTRACT_VERSION,
    "application_id": "game-server",
    "is_first_purchase": False,
}
#: the schemas a dbt target with schema `<s>` builds into: marts, then `<s>_staging`, ... (dbt_project.yml)
DBT_SCHEMA_SUFFIXES = ("", "_staging", "_intermediate", "_reference")


@contextmanager
def own_schemas(
    dsn: str, raw_schema: str, marts_schemas: Iterable[str], others: Iterable[str] = ()
) -> Iterator[psycopg.Connection]:
    """An autocommit connection to a warehouse with an empty `<raw_schema>.mtx_transactions` (the real raw
    table's definition, primary key included), the schemas of every marts schema (and `others`) dropped
    before and after."""
    schemas = [raw_schema, *others] + [f"{base}{suffix}" for base in marts_schemas for suffix in DBT_SCHEMA_SUFFIXES]
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f"drop schema if exists {schema} cascade")
        conn.execute(f"create schema {raw_schema}")
        conn.execute(f"create table {raw_schema}.mtx_transactions (like raw.mtx_transactions including all)")
        yield conn
        for schema in schemas:
            conn.execute(f"drop schema if exists {schema} cascade")


def insert_raw(conn: psycopg.Connection, schema: str, rows: list[dict[str, Any]]) -> None:
    """Raw rows (every column of contracts.warehouse.COLUMNS) into `<schema>.mtx_transactions`."""
    names = [c.name for c in COLUMNS]
    placeholders = ", ".join(["%s"] * len(names))
    with conn.cursor() as cur:
        cur.executemany(
            f"insert into {schema}.mtx_transactions ({', '.join(names)}) values ({placeholders})",
            [[row[n] for n in names] for row in rows],
        )


def query(conn: psycopg.Connection, sql: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def rows_only_in_each(conn: psycopg.Connection, left: str, right: str) -> tuple[int, int]:
    """How many rows of table `left` are not in `right`, and of `right` not in `left` (duplicates counted)."""
    counts = conn.execute(
        f"""select
              (select count(*) from (select * from {left} except all select * from {right}) as a),
              (select count(*) from (select * from {right} except all select * from {left}) as b)"""
    ).fetchone()
    assert counts is not None
    return (counts[0], counts[1])
