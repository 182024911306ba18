"""The data checks' lineage: one run of the ``data_checks`` job (child of the analytics refresh), each checked
dataset an input with a data-quality assertions facet: per suite, how many expectations held, and every failed
expectation by its type and column. Never an observed value (a failed check's observation may quote data)."""

from __future__ import annotations

import uuid
from typing import Any

from contracts import lineage
from contracts.config import get_settings

ANALYTICS_PREFIX = "transactions"


def dataset_of(suite: str, host: str, port: int | str, dbname: str) -> tuple[str, str] | None:
    """The dataset a suite checks, by the suite's name (expectations/suites.py); None for a cross-check."""
    redshift = get_settings().dbt_target == "redshift"
    if suite == "s3.analytics_objects":
        return lineage.s3_dataset(get_settings().analytics_bucket, ANALYTICS_PREFIX)
    kind, _, rest = suite.partition(".")
    schema, _, table = rest.partition(".")
    if kind in ("warehouse", "marts") and table:
        return lineage.warehouse_dataset(host, port, dbname, schema, table, redshift=redshift)
    return None


def event(summary: dict[str, Any], secret: dict[str, Any], parent_execution: str | None) -> Any:
    """The COMPLETE (all held) or FAIL event of one checks run, from CheckReport.summary()."""
    failures: dict[str, list[dict[str, Any]]] = {}
    for f in summary.get("failures", []):
        failures.setdefault(str(f.get("suite")), []).append(f)
    inputs = []
    for suite in summary.get("suites", []):
        name = str(suite["suite"])
        target = dataset_of(name, secret["host"], secret["port"], secret["dbname"])
        if target is None:
            continue
        evaluated, failed = int(suite["evaluated"]), int(suite["failed"])
        held = f"{name}: {evaluated - failed} of {evaluated} expectations held"
        assertions = [{"assertion": held, "success": bool(suite["success"])}]
        assertions += [{"assertion": str(f.get("expectation_type")), "success": False, "column": f.get("column")}
                       for f in failures.get(name, [])]  # fmt: skip
        inputs.append(lineage.input_dataset(target, assertions=assertions))
    parent = lineage.run_id(lineage.REFRESH_JOB, parent_execution) if parent_execution else None
    return lineage.run_event(
        "COMPLETE" if summary.get("success") else "FAIL", lineage.DATA_CHECKS_JOB,
        lineage.run_id(lineage.DATA_CHECKS_JOB, parent_execution) if parent_execution else str(uuid.uuid4()),
        inputs=inputs, parent_run_id=parent, error=None if summary.get("success") else "DataChecksFailed",
    )  # fmt: skip
