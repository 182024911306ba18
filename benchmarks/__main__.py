"""``make bench``: run every benchmark, write .local/bench/report.{json,md}.

``python -m benchmarks [name ...]`` runs only the named ones. ``MTX_BENCH_DIR``: write the report there instead.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Report

BENCHMARKS = {
    "transaction_workflow": "benchmarks.transaction_workflow",
    "batch_ingest": "benchmarks.batch_ingest",
    "stream_ingest": "benchmarks.stream_ingest",
    "glue_flatten": "benchmarks.glue_flatten",
    "dbt_marts": "benchmarks.dbt_marts",
    "analytics_api": "benchmarks.analytics_api",
    "enrichment": "benchmarks.enrichment",
}


#: name -> (environment variable of its size, default records): the runs that put volume on disk (PostgreSQL's
#: data directory and the generated files live under the temporary directory)
SIZES = {
    "batch_ingest": ("MTX_BENCH_BATCH_RECORDS", 1_000_000),
    "stream_ingest": ("MTX_BENCH_STREAM_RECORDS", 100_000),
    "glue_flatten": ("MTX_BENCH_GLUE_RECORDS", 1_000_000),
    "dbt_marts": ("MTX_BENCH_DBT_ROWS", 1_000_000),  # the raw table, dbt's marts and the baseline's copies
}
#: disk a record may take, an estimate with room to spare (not measured per run): its line in the generated
#: file (~1 KB), the compliance row and its version row with their indexes, and PostgreSQL's WAL
BYTES_PER_RECORD = 6_000
MARGIN_BYTES = 1024**3


def disk_needed(names: list[str], environ: dict[str, str]) -> int:
    """Bytes of free disk the largest of the named runs needs (each benchmark cleans up before the next)."""
    largest = 0
    for name in names:
        if name in SIZES:
            var, default = SIZES[name]
            records = int(environ.get(var, str(default)).replace("_", ""))
            largest = max(largest, records + (records // 4 if name == "batch_ingest" else 0))
    return largest * BYTES_PER_RECORD + MARGIN_BYTES


class NotEnoughDisk(SystemExit):
    pass


def check_disk(names: list[str], environ: dict[str, str], folder: str) -> None:
    """Refuse to start when the disk cannot hold the run: a full disk makes PostgreSQL refuse writes half way
    through, and the run ends in retries, not in a result."""
    need, free = disk_needed(names, environ), shutil.disk_usage(folder).free
    if free < need:
        raise NotEnoughDisk(
            f"make bench: {free / 1024**3:.1f} GiB free in {folder}, the run needs about {need / 1024**3:.1f} GiB "
            f"({BYTES_PER_RECORD} bytes a record plus {MARGIN_BYTES // 1024**3} GiB); free some space or lower "
            + ", ".join(var for var, _ in SIZES.values())
        )


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM (a `kill`, a CI timeout) ends the run as Ctrl-C does: by an exception, so every stack's ``finally``
    stops what it started (PostgreSQL, moto, Spark). Without it the process died at once and left them running."""
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    check_disk(names, dict(os.environ), tempfile.gettempdir())
    report = Report(directory=Path(os.environ["MTX_BENCH_DIR"])) if os.environ.get("MTX_BENCH_DIR") else Report()
    for name in names:
        importlib.import_module(BENCHMARKS[name]).run(report)
    path = report.write()
    print(f"\nreport: {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
