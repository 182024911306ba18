"""run_job end to end on one machine: moto (S3 + Glue catalog), local Spark, a throwaway PostgreSQL.

Proves the warehouse load is idempotent: a rerun adds nothing, a backfill rewrites the
same rows, a new day adds exactly that day, a late object reprocesses only its day.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from contracts import Transaction, to_analytics_record
from contracts.warehouse import COLUMNS
from glue_jobs.flatten_transactions import run as flatten_run
from glue_jobs.flatten_transactions.arguments import JobArgs
from orchestration.runtime import glue_crawler as crawler

pytestmark = pytest.mark.integration
DATABASE = "mtx_it"
BUCKET = "mtx-test-analytics"  # the buckets of the `aws` fixture (tests/conftest.py)
CURATED = "mtx-test-curated"
NO_MARGIN = dt.timedelta(0)


def _tx(n: int | str, day: str, status: str = "completed") -> Transaction:
    return Transaction.model_validate(
        {
            "transactionId": f"tx-{n}",
            "user_id": f"user_{n}",
            "game": "Path Of Exile 2",
            "item_purchased": {
                "item_id": "mtx_abyssal_wings",
                "item_name": "Abyssal Wings",
                "item_type": "cosmetic",
                "price": {"currency": "EUR", "amount": Decimal("4.99")},
            },
            "payment_details": {"payment_method": "paypal", "transaction_status": status, "gateway": "PayPal"},
            "event_timestamp": f"{day}T08:00:00Z",
            "server_region": "EU-West",
            "client_ip": "10.1.2.3",
        }
    )


def _put(s3: Any, day: str, records: list[dict[str, Any] | str], name: str | None = None) -> None:
    if name:
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        s3.put_object(Bucket=BUCKET, Key=f"transactions/dt={day}/{name}", Body="\n".join(lines).encode())
        return
    for r in records:
        assert isinstance(r, dict)
        s3.put_object(Bucket=BUCKET, Key=f"transactions/dt={day}/{r['transactionId']}.json", Body=json.dumps(r))


@pytest.fixture(scope="module")
def warehouse_dsn(fresh_database: Callable[[str], str]) -> str:
    return fresh_database("glue_it_warehouse")


def _rows(dsn: str) -> dict[str, tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select transaction_id, transaction_status, price_amount, event_date, source_partition, ingested_at "
            "from raw.mtx_transactions"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_rerun_adds_nothing_and_a_new_day_adds_exactly_that_day(
    aws: dict[str, Any], spark: SparkSession, warehouse_dsn: str, tmp_path: Path
) -> None:
    s3, glue = aws["s3"], aws["glue"]
    definition = crawler.load_definition()
    day1, day2 = "2025-02-09", "2025-02-10"
    t0 = dt.datetime(2025, 2, 9, 9, 0, tzinfo=dt.UTC)
    _put(s3, day1, [to_analytics_record(_tx(i, day1), t0) for i in range(1, 6)])
    # the batch path wrote a newer version of tx-1, and a line that is not JSON
    newer = to_analytics_record(_tx(1, day1, status="refunded"), t0 + dt.timedelta(hours=1))
    _put(s3, day1, [newer, to_analytics_record(_tx(6, day1), t0), "{broken"], name="batch-r1-0.ndjson")
    crawler.crawl(s3, glue, BUCKET, DATABASE, definition)

    args = JobArgs(job_name="mtx-it-flatten", database=DATABASE, table="transactions", curated_bucket=CURATED)

    def run(a: JobArgs = args) -> flatten_run.JobResult:
        return flatten_run.run_job(
            a, spark=spark, s3=s3, glue=glue, dsn=warehouse_dsn, workdir=tmp_path, bookmark_margin=NO_MARGIN
        )

    first = run()

    assert first.status == "succeeded"
    assert first.partitions == [day1]
    assert (first.rows_read, first.rows_rejected, first.rows_curated, first.rows_loaded) == (8, 1, 6, 6)
    rows = _rows(warehouse_dsn)
    assert sorted(rows) == [f"tx-{i}" for i in range(1, 7)]
    assert rows["tx-1"][0] == "refunded"  # the latest ingested_at won
    assert rows["tx-2"][1:4] == (Decimal("4.990"), dt.date(2025, 2, 9), dt.date(2025, 2, 9))
    curated = s3.list_objects_v2(Bucket=CURATED, Prefix="transactions/dt=2025-02-09/")["Contents"]
    parquet = [o["Key"] for o in curated if o["Key"].endswith(".parquet")]
    assert parquet
    body = s3.get_object(Bucket=CURATED, Key=parquet[0])["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    assert table.column_names == [c.name for c in COLUMNS]
    assert table.num_rows == 6
    rejects = s3.list_objects_v2(Bucket=CURATED, Prefix=f"rejects/transactions/run_id={first.run_id}/")
    (reject_key,) = [o["Key"] for o in rejects["Contents"] if o["Key"].endswith(".json")]
    reject = json.loads(s3.get_object(Bucket=CURATED, Key=reject_key)["Body"].read().splitlines()[0])
    assert reject["reject_reason"] == "$: malformed JSON [json.malformed]"
    assert reject["source_file"] == f"s3://{BUCKET}/transactions/dt={day1}/batch-r1-0.ndjson"

    again = run()

    assert again.status == "succeeded" and again.partitions == []
    assert (again.rows_read, again.rows_loaded) == (0, 0)
    assert _rows(warehouse_dsn) == rows

    backfill = run(JobArgs(**{**vars(args), "from_date": dt.date(2025, 2, 9), "to_date": dt.date(2025, 2, 9),
                              "backfill": True}))  # fmt: skip

    assert backfill.partitions == [day1]
    assert (backfill.rows_loaded, backfill.rows_replaced) == (6, 6)
    assert _rows(warehouse_dsn) == rows

    _put(s3, day2, [to_analytics_record(_tx(i, day2), t0 + dt.timedelta(days=1)) for i in range(10, 13)])
    crawler.crawl(s3, glue, BUCKET, DATABASE, definition)

    new_day = run()

    assert new_day.partitions == [day2]
    assert (new_day.rows_read, new_day.rows_loaded, new_day.rows_replaced) == (3, 3, 0)
    after = _rows(warehouse_dsn)
    assert set(after) - set(rows) == {"tx-10", "tx-11", "tx-12"}
    assert {k: v for k, v in after.items() if k in rows} == rows

    time.sleep(1.1)  # S3 LastModified has one-second precision
    late = to_analytics_record(_tx(3, day1, status="failed"), t0 + dt.timedelta(hours=5))
    _put(s3, day1, [late], name="batch-r2-0.ndjson")

    late_run = run()

    assert late_run.partitions == [day1]
    final = _rows(warehouse_dsn)
    assert len(final) == 9
    assert final["tx-3"][0] == "failed"

    # an older version arriving later does not replace a newer one
    time.sleep(1.1)
    _put(s3, day1, [to_analytics_record(_tx(3, day1, status="pending"), t0)], name="batch-r3-0.ndjson")
    run()
    assert _rows(warehouse_dsn)["tx-3"][0] == "failed"

    with psycopg.connect(warehouse_dsn) as conn:
        runs = conn.execute(
            "select status, partitions, rows_read, rows_loaded, rows_rejected from etl.job_runs "
            "where job_name = %s order by started_at",
            (args.job_name,),
        ).fetchall()
        bookmarks = dict(
            conn.execute(
                "select partition_value, row_count from etl.job_bookmarks where job_name = %s", (args.job_name,)
            ).fetchall()
        )
    assert [r[0] for r in runs] == ["succeeded"] * 6
    assert runs[0][1:] == (day1, 8, 6, 1)
    assert runs[1][1:] == ("", 0, 0, 0)
    assert bookmarks == {day1: 6, day2: 3}


def test_a_failed_run_is_recorded_and_loads_nothing(
    aws: dict[str, Any], spark: SparkSession, warehouse_dsn: str, tmp_path: Path
) -> None:
    args = JobArgs(job_name="mtx-it-missing", database=DATABASE, table="nope", curated_bucket=CURATED)
    aws["glue"].create_database(DatabaseInput={"Name": DATABASE})
    with pytest.raises(aws["glue"].exceptions.EntityNotFoundException):
        flatten_run.run_job(args, spark=spark, s3=aws["s3"], glue=aws["glue"], dsn=warehouse_dsn, workdir=tmp_path)
    with psycopg.connect(warehouse_dsn) as conn:
        status, error = conn.execute(
            "select status, error from etl.job_runs where job_name = %s", (args.job_name,)
        ).fetchone()
    assert status == "failed" and error.startswith("EntityNotFoundException")
