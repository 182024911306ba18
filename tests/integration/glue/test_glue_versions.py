"""Versions of a transaction through the flatten job (moto S3 + Glue catalog, local Spark, a real PostgreSQL).

The raw table holds one row per (transaction_id, version): the analytics objects of one transaction's versions
(``<id>.json``, ``<id>.v2.json``, ... and NDJSON lines of the bulk paths) each load as their own row; an object
written before versions (no ``version`` key) loads as version 1; a re-sent version replaces only itself; a
version below 1 is a reject with its reason. A raw table made before versions (primary key transaction_id, its
rows without the version columns) gets the columns (``version default 1 not null``: its rows are version 1)
and the key (transaction_id, version), once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pyspark.sql import SparkSession

from contracts.lifecycle import version_stamp
from contracts.warehouse import COLUMNS, PRIMARY_KEY, PRIMARY_KEY_BEFORE_VERSIONS, VERSIONED
from glue_jobs.flatten_transactions import evolve, load
from glue_jobs.flatten_transactions import run as flatten_run
from glue_jobs.flatten_transactions.arguments import JobArgs
from orchestration.runtime import glue_crawler as crawler
from tests.glue_helpers import make_tx, record

pytestmark = pytest.mark.integration
DATABASE = "mtx_versions_it"
BUCKET = "mtx-test-analytics"  # the buckets of the `aws` fixture (tests/conftest.py)
CURATED = "mtx-test-curated"
DAY = "2025-02-09"
T0 = dt.datetime(2025, 2, 9, 12, 35, tzinfo=dt.UTC)


def _version(n: int | str, status: str, version: int, previous: str | None, minutes: int) -> dict[str, Any]:
    """The analytics record of one stored version, as the writers put it (record + version fields)."""
    at = T0 + dt.timedelta(minutes=minutes)
    tx = make_tx(n, **{"payment_details.transaction_status": status})
    return record(tx, at) | version_stamp(version, previous, at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def _put(s3: Any, key: str, body: dict[str, Any] | list[dict[str, Any]]) -> None:
    text = json.dumps(body) if isinstance(body, dict) else "\n".join(json.dumps(r) for r in body) + "\n"
    s3.put_object(Bucket=BUCKET, Key=f"transactions/dt={DAY}/{key}", Body=text.encode())


def _rows(dsn: str) -> dict[tuple[str, int], tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select transaction_id, version, transaction_status, previous_status, status_updated_at, ingested_at "
            "from raw.mtx_transactions"
        ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def _primary_key(dsn: str) -> tuple[str, ...]:
    with psycopg.connect(dsn) as conn:
        return evolve.primary_key(conn)[1]


def _run(spark: SparkSession, aws: dict[str, Any], dsn: str, tmp: Path, backfill: bool = False) -> Any:
    args = JobArgs(
        job_name="mtx-it-versions",
        database=DATABASE,
        table="transactions",
        curated_bucket=CURATED,
        backfill=backfill,
        from_date=dt.date(2025, 2, 9) if backfill else None,
        to_date=dt.date(2025, 2, 9) if backfill else None,
    )
    return flatten_run.run_job(
        args, spark=spark, s3=aws["s3"], glue=aws["glue"], dsn=dsn, workdir=tmp, bookmark_margin=dt.timedelta(0)
    )


def test_every_version_is_a_row_and_an_object_from_before_versions_is_version_1(
    aws: dict[str, Any], spark: SparkSession, fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    dsn = fresh_database("glue_it_versions")
    s3, glue = aws["s3"], aws["glue"]
    # tx-1: pending -> completed -> refunded, one object per version (the API path's keys)
    _put(s3, "tx-1.json", _version(1, "pending", 1, None, 0))
    _put(s3, "tx-1.v2.json", _version(1, "completed", 2, "pending", 1))
    _put(s3, "tx-1.v3.json", _version(1, "refunded", 3, "completed", 5))
    # tx-2: completed -> chargeback as two NDJSON lines of one bulk file; tx-3: an object written before versions
    _put(s3, "batch-1.ndjson", [_version(2, "completed", 1, None, 0), _version(2, "chargeback", 2, "completed", 9)])
    _put(s3, "tx-3.json", record(make_tx(3), T0))
    # tx-4: a version below 1 is no version: rejected with its reason, never loaded
    _put(s3, "tx-4.json", _version(4, "completed", 1, None, 0) | {"version": 0})
    # tx-5: a version moved from something that is no status: rejected by name, the value never quoted
    _put(s3, "tx-5.v2.json", _version(5, "completed", 2, None, 0) | {"previous_status": "shipped"})
    crawler.crawl(s3, glue, BUCKET, DATABASE, crawler.load_definition())

    first = _run(spark, aws, dsn, tmp_path)

    assert first.status == "succeeded"
    assert (first.rows_read, first.rows_rejected, first.rows_loaded) == (8, 2, 6)
    rows = _rows(dsn)
    at = lambda minutes: (T0 + dt.timedelta(minutes=minutes)).replace(tzinfo=None)  # noqa: E731
    assert {k: v[:3] for k, v in rows.items()} == {
        ("tx-1", 1): ("pending", None, at(0)),
        ("tx-1", 2): ("completed", "pending", at(1)),
        ("tx-1", 3): ("refunded", "completed", at(5)),
        ("tx-2", 1): ("completed", None, at(0)),
        ("tx-2", 2): ("chargeback", "completed", at(9)),
        ("tx-3", 1): ("completed", None, None),  # before versions: version 1, no stamp
    }
    assert _primary_key(dsn) == PRIMARY_KEY
    rejects = [
        json.loads(line)
        for o in s3.list_objects_v2(Bucket=CURATED, Prefix=f"rejects/transactions/run_id={first.run_id}/")["Contents"]
        if o["Key"].endswith(".json")
        for line in s3.get_object(Bucket=CURATED, Key=o["Key"])["Body"].read().decode().splitlines()
        if line
    ]
    assert sorted((r["transaction_id"], r["reject_reason"]) for r in rejects) == [
        ("tx-4", "version: must be 1 or more [field.minimum]"),
        ("tx-5", "previous_status: not one of the values the contract lists [enum.value]"),
    ]

    # a re-sent version 3 (ingested later) replaces version 3 only; a backfill changes nothing else
    _put(s3, "tx-1.v3.json", _version(1, "refunded", 3, "completed", 20))
    again = _run(spark, aws, dsn, tmp_path, backfill=True)

    assert again.status == "succeeded" and again.rows_loaded == 6 and again.rows_replaced == 6
    reloaded = _rows(dsn)
    assert set(reloaded) == set(rows)
    assert reloaded[("tx-1", 3)][3] == at(20)  # the later ingest of the same version won
    assert {k: v for k, v in reloaded.items() if k != ("tx-1", 3)} == {
        k: v for k, v in rows.items() if k != ("tx-1", 3)
    }


def test_a_raw_table_from_before_versions_gets_the_columns_and_the_key_once(
    aws: dict[str, Any], spark: SparkSession, fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    dsn = fresh_database("glue_it_versions_evolve")
    before = [c for c in COLUMNS if c not in VERSIONED]
    cols = ",\n  ".join(f"{c.name} {c.sql_type}{'' if c.nullable else ' not null'}" for c in before)
    with psycopg.connect(dsn, autocommit=True) as conn:
        key = ", ".join(PRIMARY_KEY_BEFORE_VERSIONS)
        conn.execute(f"create table raw.mtx_transactions (\n  {cols},\n  primary key ({key})\n)".encode())
        conn.execute(  # a row loaded before versions existed
            "insert into raw.mtx_transactions (transaction_id, user_id, game, item_id, item_name, item_type, "
            "price_amount, price_currency, payment_method, payment_gateway, transaction_status, server_region, "
            "event_at, ingested_at, event_date, source_partition, loaded_at) values ('tx-1', 'u', 'g', 'i', "
            "'n', 'cosmetic', 1, 'USD', 'paypal', 'PayPal', 'completed', 'EU-West', '2025-02-09 12:34:56', "
            "'2025-02-09 12:35', '2025-02-09', '2025-02-09', '2025-02-09 13:00')"
        )
    assert _primary_key(dsn) == PRIMARY_KEY_BEFORE_VERSIONS
    # the refund of that transaction arrives after the upgrade: its version 2 sits beside the old row
    _put(aws["s3"], "tx-1.v2.json", _version(1, "refunded", 2, "completed", 30))
    crawler.crawl(aws["s3"], aws["glue"], BUCKET, DATABASE, crawler.load_definition())

    result = _run(spark, aws, dsn, tmp_path)

    assert result.status == "succeeded" and (result.rows_loaded, result.rows_replaced) == (1, 0)
    with psycopg.connect(dsn) as conn:
        version = conn.execute(
            "select is_nullable, column_default from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'mtx_transactions' and column_name = 'version'"
        ).fetchone()
        names = [
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' "
                "and table_name = 'mtx_transactions' order by ordinal_position"
            ).fetchall()
        ]
    assert version == ("NO", "1")
    assert names == [c.name for c in COLUMNS]  # contract order: the version columns last
    assert _primary_key(dsn) == PRIMARY_KEY
    rows = _rows(dsn)
    assert {k: v[:2] for k, v in rows.items()} == {
        ("tx-1", 1): ("completed", None),  # the old row: version 1 by the column's default
        ("tx-1", 2): ("refunded", "completed"),
    }
    with psycopg.connect(dsn, autocommit=True) as conn:  # evolved once: the second time is nothing to do
        assert load.ensure_warehouse(conn) == []
        assert evolve.evolve_primary_key(conn) is False
    assert _primary_key(dsn) == PRIMARY_KEY


def test_another_primary_key_is_a_named_error(fresh_database: Callable[[str], str]) -> None:
    dsn = fresh_database("glue_it_versions_odd_key")
    cols = ",\n  ".join(f"{c.name} {c.sql_type}{'' if c.nullable else ' not null'}" for c in COLUMNS)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"create table raw.mtx_transactions (\n  {cols},\n  primary key (user_id, version)\n)".encode())
        with pytest.raises(evolve.SchemaEvolutionError, match=r"primary key \(user_id, version\)"):
            evolve.evolve_primary_key(conn)
    assert _primary_key(dsn) == ("user_id", "version")
