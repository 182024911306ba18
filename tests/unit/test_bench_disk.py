"""`make bench` refuses to start a run the disk cannot hold (a full disk once turned a 1M run into retries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.__main__ import BYTES_PER_RECORD, MARGIN_BYTES, NotEnoughDisk, check_disk, disk_needed, main

pytestmark = pytest.mark.unit


def test_the_need_follows_the_largest_run_named() -> None:
    # batch runs its size and a quarter of it; the tx benchmark puts no volume on disk
    assert disk_needed(["transaction_workflow"], {}) == MARGIN_BYTES
    assert disk_needed(["batch_ingest"], {"MTX_BENCH_BATCH_RECORDS": "1_000"}) == 1250 * BYTES_PER_RECORD + MARGIN_BYTES
    both = disk_needed(
        ["batch_ingest", "stream_ingest"], {"MTX_BENCH_BATCH_RECORDS": "10", "MTX_BENCH_STREAM_RECORDS": "2000000"}
    )
    assert both == 2_000_000 * BYTES_PER_RECORD + MARGIN_BYTES


def test_a_run_larger_than_the_free_disk_is_refused_naming_the_sizes(tmp_path: Path) -> None:
    huge = {"MTX_BENCH_STREAM_RECORDS": str(10**12)}
    with pytest.raises(NotEnoughDisk) as refused:
        check_disk(["stream_ingest"], huge, str(tmp_path))
    message = str(refused.value)
    assert "GiB free in" in message and "MTX_BENCH_STREAM_RECORDS" in message
    check_disk(["stream_ingest"], {"MTX_BENCH_STREAM_RECORDS": "10"}, str(tmp_path))  # a small run passes


def test_an_unknown_benchmark_is_named() -> None:
    with pytest.raises(SystemExit, match="unknown benchmark nope"):
        main(["nope"])
