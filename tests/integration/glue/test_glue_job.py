"""job.py without a warehouse: arguments, partition selection, catalog + S3 reading (moto), local read."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from glue_jobs.flatten_transactions import job, sources, transforms
from glue_jobs.flatten_transactions import run as flatten_run
from glue_jobs.flatten_transactions.arguments import JobArgs, JobArgumentError
from glue_jobs.flatten_transactions.sources import Partition, S3Object
from orchestration.runtime import glue_crawler as crawler
from tests.glue_helpers import DAY, make_tx, put_records, record, write_partition

pytestmark = pytest.mark.integration
UTC = dt.UTC


def test_arguments_have_the_glue_names_without_awsglue() -> None:
    argv = [
        "job.py", "--JOB_NAME", "mtx-dev-flatten", "--database", "mtx_dev", "--table", "transactions",
        "--curated_bucket", "mtx-dev-curated", "--warehouse_dsn", "postgresql://x@127.0.0.1/w",
        "--from_date", "2025-02-01", "--to_date", "2025-02-09", "--backfill", "true",
        "--job-bookmark-option", "job-bookmark-disable",  # Glue adds its own: ignored
    ]  # fmt: skip
    args = job.parse_args(argv)
    assert args == JobArgs(
        job_name="mtx-dev-flatten",
        database="mtx_dev",
        table="transactions",
        curated_bucket="mtx-dev-curated",
        warehouse_dsn="postgresql://x@127.0.0.1/w",
        from_date=dt.date(2025, 2, 1),
        to_date=dt.date(2025, 2, 9),
        backfill=True,
    )
    base = ["job.py", "--JOB_NAME", "j", "--database", "d", "--table", "t", "--curated_bucket", "c"]
    assert job.parse_args(base).backfill is False
    with pytest.raises(JobArgumentError, match="after"):
        job.parse_args([*base, "--from_date", "2025-02-10", "--to_date", "2025-02-01"])
    with pytest.raises(JobArgumentError, match="YYYY-MM-DD"):
        job.parse_args([*base, "--from_date", "yesterday"])
    with pytest.raises(SystemExit):
        job.parse_args(["job.py", "--JOB_NAME", "j"])


def _obj(day: str, modified: dt.datetime) -> S3Object:
    return S3Object("b", f"transactions/dt={day}/x.json", 10, modified)


def test_partition_selection_follows_bookmarks_late_objects_ranges_and_backfill() -> None:
    t0 = dt.datetime(2025, 2, 12, 6, 0, tzinfo=UTC)
    days = ["2025-02-09", "2025-02-10", "2025-02-11", "2025-02-12", "not-a-date"]
    parts = [Partition(d, f"s3://b/transactions/dt={d}/") for d in days]
    objects = {
        "2025-02-09": [_obj("2025-02-09", t0 - dt.timedelta(days=2))],
        "2025-02-10": [
            _obj("2025-02-10", t0 - dt.timedelta(days=2)),
            _obj("2025-02-10", t0 + dt.timedelta(hours=1)),
        ],
        "2025-02-11": [_obj("2025-02-11", t0 - dt.timedelta(days=1))],
        "2025-02-12": [],
    }
    bookmarks = {"2025-02-09": t0, "2025-02-10": t0}  # naive UTC from the warehouse also works
    in_range = sources.in_date_range(parts)
    assert [p.value for p in in_range] == days[:4]

    pending = sources.pending_partitions(in_range, objects, bookmarks)
    # 09 done; 10 has a late object written after its bookmark; 11 never done; 12 empty
    assert [p.value for p in pending] == ["2025-02-10", "2025-02-11"]

    ranged = sources.in_date_range(parts, dt.date(2025, 2, 9), dt.date(2025, 2, 10))
    assert [p.value for p in sources.pending_partitions(ranged, objects, bookmarks)] == ["2025-02-10"]
    backfill = sources.pending_partitions(ranged, objects, bookmarks, backfill=True)
    assert [p.value for p in backfill] == ["2025-02-09", "2025-02-10"]
    # an object a few seconds older than the bookmark still counts (upload start vs listing time)
    close = {"2025-02-09": [_obj("2025-02-09", t0 - dt.timedelta(seconds=30))]}
    assert sources.pending_partitions(parts[:1], close, {"2025-02-09": t0.replace(tzinfo=None)})
    assert not sources.pending_partitions(parts[:1], close, bookmarks, margin=dt.timedelta(0))


def test_catalog_partitions_listing_and_local_read_of_a_colon_key(
    aws: dict[str, Any], spark: SparkSession, tmp_path
) -> None:
    s3, glue, bucket = aws["s3"], aws["glue"], aws["bucket"]
    colon = record(make_tx("a:1"))  # ':' is allowed in a transaction id, and breaks Hadoop paths
    put_records(s3, bucket, DAY, [colon, record(make_tx(2))])
    put_records(s3, bucket, "2025-02-10", [record(make_tx(3)) | {"promo_code": "X"}], name="batch-r-0.ndjson")
    crawler.crawl(s3, glue, bucket, "mtx_test", crawler.load_definition())

    location, partitions = sources.catalog_partitions(glue, "mtx_test", "transactions")
    assert location == f"s3://{bucket}/transactions/"
    assert [p.value for p in partitions] == [DAY, "2025-02-10"]
    objects = {p.value: sources.list_objects(s3, p.location) for p in partitions}
    assert sorted(o.key for o in objects[DAY]) == [
        f"transactions/dt={DAY}/tx-2.json",
        f"transactions/dt={DAY}/tx-a:1.json",
    ]

    drift = sources.sample_drift(s3, objects)
    assert drift.unknown_fields == ("promo_code",)

    folders, names = sources.download(s3, objects, tmp_path, "transactions/")
    df = flatten_run.read_transactions(spark, folders, str(tmp_path / "transactions"))
    good, rejects = transforms.split_rejects(df)
    flat = transforms.flatten(good)
    assert rejects.count() == 0
    assert sorted(r["transaction_id"] for r in flat.collect()) == ["tx-2", "tx-3", "tx-a:1"]
    assert f"s3://{bucket}/transactions/dt={DAY}/tx-a:1.json" in names.values()
    assert all(path.startswith("file:///") for path in names)


def test_flatten_and_write_counts_from_its_single_pass_even_when_nothing_is_good(
    spark: SparkSession, tmp_path: Path
) -> None:
    lines = [json.dumps(record(make_tx(n))) for n in (1, 2)] + ["{broken"]
    good = write_partition(tmp_path, DAY, lines)
    bad = write_partition(tmp_path, "2025-02-10", ["{broken", "not json"])
    empty = tmp_path / "transactions" / "dt=2025-02-11"
    empty.mkdir()
    (empty / "batch-run1-0.ndjson").write_text("")
    base = str(tmp_path / "transactions")

    def run(folders: list[Path], name: str) -> flatten_run.FlattenCounts:
        # in a thread: an observation that never completes must fail the test, not hang it
        out: list[flatten_run.FlattenCounts] = []
        worker = threading.Thread(
            target=lambda: out.append(
                flatten_run.flatten_and_write(
                    spark, [str(f) for f in folders], base, str(tmp_path / name), str(tmp_path / f"{name}-rejects")
                )
            ),
            daemon=True,
        )
        worker.start()
        worker.join(timeout=180)
        assert out, f"flatten_and_write did not finish on {name}"
        return out[0]

    assert run([good, bad, empty], "all") == flatten_run.FlattenCounts(5, 3, 2, frozenset({DAY}))
    assert sorted(p.parent.name for p in (tmp_path / "all").glob("dt=*/*.parquet")) == [f"dt={DAY}"]
    assert sum(1 for line in (tmp_path / "all-rejects").glob("dt=*/*.json") for _ in line.open()) == 3
    assert run([bad], "bad") == flatten_run.FlattenCounts(2, 2, 0, frozenset())
    assert run([empty], "empty") == flatten_run.FlattenCounts(0, 0, 0, frozenset())
    assert not (tmp_path / "empty-rejects").exists()
