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
