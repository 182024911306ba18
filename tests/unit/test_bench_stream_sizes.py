"""The stream benchmark's batch sizes (benchmarks/stream_ingest.py): Terraform's 500 and 5,000 by default, each with
a batching window that can fill it at a shard's 1,000 records/s; a bad list is refused naming the variable."""

from __future__ import annotations

import pytest

from benchmarks.stream_ingest import batch_sizes, mapping_for
from orchestration.runtime.stream_poller import StreamMapping

pytestmark = pytest.mark.unit


def test_the_default_sizes_and_their_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MTX_BENCH_STREAM_BATCH_SIZES", raising=False)
    assert batch_sizes() == [500, 5000]
    assert mapping_for(500) == StreamMapping()  # Terraform's defaults
    assert (mapping_for(5000).batch_size, mapping_for(5000).window_seconds) == (5000, 5)
    assert mapping_for(10_000).window_seconds == 10
    monkeypatch.setenv("MTX_BENCH_STREAM_BATCH_SIZES", "100, 2000")
    assert batch_sizes() == [100, 2000]


@pytest.mark.parametrize("raw", ["0", "10001", "500,x", ",", "500,500"])
def test_a_bad_list_is_refused_naming_the_variable(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTX_BENCH_STREAM_BATCH_SIZES", raw)
    with pytest.raises(ValueError, match="MTX_BENCH_STREAM_BATCH_SIZES"):
        batch_sizes()
