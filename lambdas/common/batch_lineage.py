"""The batch ingest's lineage (contracts/lineage.py): raw file -> compliance table + analytics prefix.

SplitFile emits START (the file in), FinalizeRun COMPLETE or FAIL (the file in with its record count; the
compliance table and the analytics objects' prefix out, with the stored count). The run id derives from the
batch run id (the execution name), so the two functions agree without sharing state.
"""

from __future__ import annotations

from typing import Any

from contracts import compliance, lineage
from contracts.config import get_settings

#: Where the analytics copy of every stored transaction goes (s3://<analytics>/transactions/dt=.../).
ANALYTICS_PREFIX = "transactions"


def batch_run_id(run_id: str) -> str:
    return lineage.run_id(lineage.BATCH_INGEST_JOB, run_id)


def _raw_file(bucket: str, key: str, records: int | None = None) -> Any:
    return lineage.input_dataset(lineage.s3_dataset(bucket, key), rows=records)


def started(bucket: str, key: str, run_id: str) -> int:
    """START of the batch run ``run_id`` over s3://bucket/key."""
    if not lineage.enabled():
        return 0
    return lineage.emit(
        lineage.run_event("START", lineage.BATCH_INGEST_JOB, batch_run_id(run_id), inputs=[_raw_file(bucket, key)])
    )


def finished(run: dict[str, Any], totals: dict[str, int], failed: bool, error: str | None = None) -> int:
    """COMPLETE (or FAIL) of the batch run whose record is ``run`` (run_id, bucket, object_key), with counts."""
    if not lineage.enabled() or not run.get("bucket") or not run.get("object_key"):
        return 0
    s = get_settings()
    stored = int(totals.get("stored", 0))
    outputs = [
        lineage.output_dataset(
            lineage.compliance_dataset(f"{compliance.SCHEMA}.{compliance.TABLE}"),
            fields=[(c.name, c.sql_type) for c in compliance.COLUMNS],
            rows=stored,
        ),
        lineage.output_dataset(lineage.s3_dataset(s.analytics_bucket, ANALYTICS_PREFIX), rows=stored),
    ]
    event = lineage.run_event(
        "FAIL" if failed else "COMPLETE",
        lineage.BATCH_INGEST_JOB,
        batch_run_id(str(run["run_id"])),
        inputs=[_raw_file(str(run["bucket"]), str(run["object_key"]), int(totals.get("records", 0)))],
        outputs=outputs,
        error=error,
    )
    return lineage.emit(event)
