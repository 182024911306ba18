"""`make bench` runs to its end: every benchmark, at a size that only proves it runs and checks itself (the volume
runs are `make bench`'s own). Twice a benchmark broke unseen when the product moved on: the Glue baselines and the
dbt marts' hand-written baseline both lacked columns the warehouse had gained."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import BENCHMARKS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "MTX_BENCH_TX_RECORDS": "16",
    "MTX_BENCH_TX_PROBE": "16",
    "MTX_BENCH_BATCH_RECORDS": "400",
    "MTX_BENCH_STREAM_RECORDS": "400",
    "MTX_BENCH_GLUE_RECORDS": "2000",
    "MTX_BENCH_DBT_ROWS": "2000",
    "MTX_BENCH_API_ROWS": "2000",
    "MTX_BENCH_API_REQUESTS": "20",
    "MTX_BENCH_ENRICH_RECORDS": "1000",
    # one sample of each measurement: a repeat only keeps the best of several (minutes of dbt builds here)
    "MTX_BENCH_REPEATS": "1",
}


@pytest.mark.timeout(1500)  # above the subprocess's own timeout, so that one ends the run and cleans up
def test_every_benchmark_runs_to_its_report(tmp_path: Path) -> None:
    env = {**os.environ, **TINY, "MTX_BENCH_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "benchmarks"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    rows = " ".join(r["row"] for r in report["rows"])
    for path in ("per-transaction", "batch path", "stream path", "Glue job"):
        assert path in rows, rows
    assert "stream: 400 records, lost 0, duplicated 0" in done.stdout
    assert len(BENCHMARKS) == 7 and (tmp_path / "report.md").exists()
    # the dbt benchmark's own check: its hand-written baseline and its incremental runs make dbt's tables
    for key in ("baseline_same_content_as_dbt", "marts_after_incrementals_equal_full_recompute"):
        tables = _find(report, key)
        assert tables and all(t["same_content"] for t in tables.values()), (key, tables)
    # ... on raw rows that exercise their logic: versions (some loaded after the first), dollars, chargebacks
    raw = _find(report, "raw_profile_before_the_year_run")
    assert raw is not None
    assert raw["later_versions_in_a_later_load"] > 0 and raw["later_versions"] > raw["later_versions_in_a_later_load"]
    assert raw["chargeback_rows"] > 0 and 0 < raw["rows_with_usd"] < raw["rows"], raw


def _find(doc: object, key: str) -> dict[str, Any] | None:
    if isinstance(doc, dict):
        if key in doc:
            return dict(doc[key])
        for value in doc.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


@pytest.mark.timeout(300)
def test_a_terminated_benchmark_stops_the_servers_it_started(tmp_path: Path) -> None:
    """`kill` of a running `make bench` (SIGTERM) unwinds it: the PostgreSQL server its stack started is stopped."""
    import signal
    import time

    env = {**os.environ, **TINY, "MTX_BENCH_TX_PROBE": "100000", "MTX_BENCH_DIR": str(tmp_path)}
    bench = subprocess.Popen([sys.executable, "-m", "benchmarks", "transaction_workflow"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        home: Path | None = None
        while home is None and time.monotonic() < deadline and bench.poll() is None:
            # the stack is up once it wrote stack.env, its last step
            found = [p.parent for p in Path("/tmp").glob("mtx-bench-*/stack.env") if _newer_than(p, bench.pid)]
            home = found[0] if found else None
            time.sleep(0.5)
        assert home is not None, "the benchmark's stack never started"
        server_pid = int((home / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=120) == 128 + signal.SIGTERM
        # pg_ctl stop returns once the server removed its pid file; its process ends a moment later
        gone_by = time.monotonic() + 15
        while Path(f"/proc/{server_pid}").exists() and time.monotonic() < gone_by:
            time.sleep(0.2)
        assert not Path(f"/proc/{server_pid}").exists(), "PostgreSQL outlived the benchmark"
    finally:
        if bench.poll() is None:
            bench.kill()


def _newer_than(path: Path, pid: int) -> bool:
    """``path`` was written after process ``pid`` started."""
    try:
        return path.stat().st_mtime >= Path(f"/proc/{pid}").stat().st_mtime
    except OSError:
        return False
