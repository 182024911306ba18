"""``make bench``: run every benchmark, write .local/bench/report.{json,md}.

``python -m benchmarks [name ...]`` runs only the named ones.
"""

from __future__ import annotations

import importlib
import sys

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


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    report = Report()
    for name in names:
        importlib.import_module(BENCHMARKS[name]).run(report)
    path = report.write()
    print(f"\nreport: {path} and {path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
