"""Schema evolution of the raw table (glue_jobs/flatten_transactions/evolve.py) on a real PostgreSQL.

A warehouse deployed before the Enrich stage has the raw table without its ten columns, and
``create table if not exists`` leaves it so: the job's load must add them (nullable, one ALTER
each, in contract order), load the enriched rows, add nothing the second time, survive a
concurrent load adding the same column first, and refuse a column of another type by name.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pyspark.sql import SparkSession

from contracts import CONTRACT_VERSION
from contracts.warehouse import COLUMNS, ENRICHED, PRIMARY_KEY_BEFORE_VERSIONS, VERSIONED, Column
from glue_jobs.flatten_transactions import evolve, load
from glue_jobs.flatten_transactions import run as flatten_run
from glue_jobs.flatten_transactions.arguments import JobArgs
from orchestration.runtime import glue_crawler as crawler
from tests.glue_helpers import make_tx, put_records, record

pytestmark = pytest.mark.integration
DATABASE = "mtx_evolve_it"
BUCKET = "mtx-test-analytics"  # the buckets of the `aws` fixture (tests/conftest.py)
CURATED = "mtx-test-curated"
DAY = "2025-02-09"
OLD_COLUMNS = [c for c in COLUMNS if c not in ENRICHED and c not in VERSIONED]
ENRICHED_VALUES = {
    "amount_usd": 10.99,
    "usd_per_unit": 1.0,
    "fx_rate_date": "2025-02-01",
    "country": "GB",
    "region": "europe",
    "item_category": "vanity",
    "list_price_usd": 10.0,
    "contract_version": CONTRACT_VERSION,
    "application_id": "game-eu",
    "is_first_purchase": True,
}


def _create_raw_table(dsn: str, columns: list[Column]) -> None:
    """The raw table as an older contract made it (its DDL's shape, with the columns given)."""
    cols = ",\n  ".join(f"{c.name} {c.sql_type}{'' if c.nullable else ' not null'}" for c in columns)
    with psycopg.connect(dsn, autocommit=True) as conn:
        key = ", ".join(PRIMARY_KEY_BEFORE_VERSIONS)
        conn.execute(f"create table raw.mtx_transactions (\n  {cols},\n  primary key ({key})\n)".encode())


def _columns(dsn: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        return [
            (r[0], r[1], r[2])
            for r in conn.execute(
                "select column_name, data_type, is_nullable from information_schema.columns "
                "where table_schema = 'raw' and table_name = 'mtx_transactions' order by ordinal_position"
            ).fetchall()
        ]


def _rows(dsn: str) -> dict[str, dict[str, Any]]:
    names = [c.name for c in COLUMNS]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"select {', '.join(names)} from raw.mtx_transactions").fetchall()
    return {r[0]: dict(zip(names, r, strict=True)) for r in rows}


def test_a_raw_table_from_before_enrich_gets_the_new_columns_and_the_enriched_rows(
    aws: dict[str, Any], spark: SparkSession, fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    dsn = fresh_database("glue_it_evolve")
    _create_raw_table(dsn, OLD_COLUMNS)
    with psycopg.connect(dsn, autocommit=True) as conn:  # a row loaded before the stage existed
        conn.execute(
            "insert into raw.mtx_transactions (transaction_id, user_id, game, item_id, item_name, item_type, "
            "price_amount, price_currency, payment_method, payment_gateway, transaction_status, server_region, "
            "event_at, ingested_at, event_date, source_partition, loaded_at) values ('tx-old', 'u', 'g', 'i', "
            "'n', 'cosmetic', 1, 'USD', 'paypal', 'PayPal', 'completed', 'EU-West', '2025-02-08 10:00', "
            "'2025-02-08 10:01', '2025-02-08', '2025-02-08', '2025-02-08 12:00')"
        )
    assert [c[0] for c in _columns(dsn)] == [c.name for c in OLD_COLUMNS]
    s3, glue = aws["s3"], aws["glue"]
    put_records(s3, BUCKET, DAY, [record(make_tx(1)) | ENRICHED_VALUES, record(make_tx(2))])  # tx-2: pre-stage
    crawler.crawl(s3, glue, BUCKET, DATABASE, crawler.load_definition())
    args = JobArgs(job_name="mtx-it-evolve", database=DATABASE, table="transactions", curated_bucket=CURATED)

    def run(a: JobArgs = args) -> flatten_run.JobResult:
        return flatten_run.run_job(
            a, spark=spark, s3=s3, glue=glue, dsn=dsn, workdir=tmp_path, bookmark_margin=dt.timedelta(0)
        )

    first = run()

    assert first.status == "succeeded" and first.rows_loaded == 2
    columns = _columns(dsn)
    # every contract column, in contract order (Redshift's COPY of Parquet maps by position)
    assert [c[0] for c in columns] == [c.name for c in COLUMNS]
    added = {name: (data_type, nullable) for name, data_type, nullable in columns if name in {c.name for c in ENRICHED}}
    assert added == {
        "amount_usd": ("numeric", "YES"),
        "usd_per_unit": ("numeric", "YES"),
        "fx_rate_date": ("date", "YES"),
        "country": ("character", "YES"),
        "region": ("character varying", "YES"),
        "item_category": ("character varying", "YES"),
        "list_price_usd": ("numeric", "YES"),
        "contract_version": ("character varying", "YES"),
        "application_id": ("character varying", "YES"),
        "is_first_purchase": ("boolean", "YES"),
    }
    rows = _rows(dsn)
    assert sorted(rows) == ["tx-1", "tx-2", "tx-old"]
    assert {c.name: rows["tx-1"][c.name] for c in ENRICHED} == {
        "amount_usd": Decimal("10.9900"),
        "usd_per_unit": Decimal("1.00000000"),
        "fx_rate_date": dt.date(2025, 2, 1),
        "country": "GB",
        "region": "europe",
        "item_category": "vanity",
        "list_price_usd": Decimal("10.000"),
        "contract_version": CONTRACT_VERSION,
        "application_id": "game-eu",
        "is_first_purchase": True,
    }
    for old in ("tx-2", "tx-old"):
        assert {c.name: rows[old][c.name] for c in ENRICHED} == {c.name: None for c in ENRICHED}
    assert rows["tx-old"]["price_amount"] == Decimal("1.000")

    # the same load again: nothing to add, the same rows
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert load.ensure_warehouse(conn) == []
    again = run(JobArgs(**{**vars(args), "from_date": dt.date(2025, 2, 9), "to_date": dt.date(2025, 2, 9),
                           "backfill": True}))  # fmt: skip
    assert again.status == "succeeded" and (again.rows_loaded, again.rows_replaced) == (2, 2)
    assert _columns(dsn) == columns
    reloaded = _rows(dsn)
    assert reloaded["tx-old"] == rows["tx-old"]
    for tx in ("tx-1", "tx-2"):  # rewritten by the backfill: only the load time moved
        assert {k: v for k, v in reloaded[tx].items() if k != "loaded_at"} == {
            k: v for k, v in rows[tx].items() if k != "loaded_at"
        }


def test_a_column_of_another_type_is_a_named_error_and_nothing_is_added(
    fresh_database: Callable[[str], str],
) -> None:
    dsn = fresh_database("glue_it_evolve_conflict")
    retyped = Column("amount_usd", "varchar(10)", "amount_usd", True)
    _create_raw_table(dsn, [*OLD_COLUMNS, retyped])
    before = _columns(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn, pytest.raises(evolve.SchemaEvolutionError) as caught:
        load.ensure_warehouse(conn)
    message = str(caught.value)
    assert "raw.mtx_transactions.amount_usd" in message
    assert "character varying(10)" in message and "numeric(18,4)" in message
    assert _columns(dsn) == before  # checked before any ALTER: not one column added


def test_a_missing_not_null_column_is_refused_by_name(fresh_database: Callable[[str], str]) -> None:
    dsn = fresh_database("glue_it_evolve_required")
    _create_raw_table(dsn, [c for c in OLD_COLUMNS if c.name != "server_region"])
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        pytest.raises(evolve.SchemaEvolutionError, match="server_region"),
    ):
        evolve.evolve_table(conn)
    assert "server_region" not in [c[0] for c in _columns(dsn)]
    assert "amount_usd" not in [c[0] for c in _columns(dsn)]


def test_a_concurrent_load_adding_the_column_first_is_no_failure(fresh_database: Callable[[str], str]) -> None:
    """The other load's ALTER holds the table lock; ours blocks on it, then fails 42701 and goes on."""
    dsn = fresh_database("glue_it_evolve_race")
    _create_raw_table(dsn, OLD_COLUMNS)
    first = ENRICHED[0]
    outcome: dict[str, Any] = {}
    with psycopg.connect(dsn) as other:  # a transaction left open: the "other load" mid-ALTER
        other.execute(evolve.add_column_sql(first))
        with psycopg.connect(dsn, autocommit=True) as conn:
            pid = conn.info.backend_pid

            def ours() -> None:
                try:
                    outcome["added"] = evolve.evolve_table(conn)
                except (evolve.SchemaEvolutionError, psycopg.Error) as exc:  # pragma: no cover - asserted below
                    outcome["error"] = exc

            worker = threading.Thread(target=ours)
            worker.start()
            with psycopg.connect(dsn, autocommit=True) as watch:
                for _ in range(200):  # ours is waiting for the other's lock (poll, no wall-clock assertion)
                    waiting = watch.execute(
                        "select count(*) from pg_locks where pid = %s and not granted", (pid,)
                    ).fetchone()
                    if waiting and waiting[0]:
                        break
                    time.sleep(0.05)
                else:  # pragma: no cover
                    pytest.fail("our ALTER never waited for the concurrent one")
            other.commit()
            worker.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    # the other load added the first
    assert outcome["added"] == [c.name for c in (*ENRICHED[1:], *VERSIONED)]
    assert [c[0] for c in _columns(dsn)] == [c.name for c in COLUMNS]
