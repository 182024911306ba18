"""FinalizeRun: sum the chunk counts into the run record: COMPLETED, or FAILED with the reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

from contracts.config import get_settings
from lambdas.common import batch_lineage
from lambdas.common.aws import client
from lambdas.common.errors import cause_message, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("finalize-run")
tracer = get_tracer("finalize-run")
#: ``quarantined``: the dead-lettered records kept whole under rejected/ of the raw bucket (too large, or
#: refused by the database on their data); a part of ``dead_lettered``, each has a pointer dead letter.
COUNTS = ("records", "stored", "duplicates", "dead_lettered", "quarantined", "failed")


def finalize(run_id: str, chunk_results: list[dict[str, Any]] | None, error: dict[str, Any] | None) -> dict[str, Any]:
    totals = {k: sum(int(r.get(k, 0)) for r in chunk_results or []) for k in COUNTS}
    status = "FAILED" if error or totals["failed"] else "COMPLETED"
    now = dt.datetime.now(dt.UTC).isoformat()
    names = {"#status": "status"}
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":now": {"S": now},
        ":chunks": {"N": str(len(chunk_results or []))},
    }
    sets = ["#status = :status", "updated_at = :now", "finished_at = :now", "chunks = :chunks"]
    for key, value in totals.items():
        names[f"#{key}"] = key
        values[f":{key}"] = {"N": str(value)}
        sets.append(f"#{key} = :{key}")
    if error:
        values[":error"] = {"S": str(error.get("Error", "Unknown"))}
        values[":cause"] = {"S": cause_message(error)[:4000]}
        sets += ["error_name = :error", "error_cause = :cause"]
    updated = client("dynamodb").update_item(
        TableName=get_settings().batch_runs_table,
        Key={"run_id": {"S": run_id}},
        UpdateExpression="SET " + ", ".join(sets),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ReturnValues="ALL_NEW",  # the file's bucket and key, for the lineage event
    )
    record = {k: v.get("S") for k, v in (updated.get("Attributes") or {}).items() if "S" in v}
    failure = str(error.get("Error", "Unknown")) if error else ("ChunksDeadLettered" if totals["failed"] else None)
    batch_lineage.finished(record, totals, failed=status == "FAILED", error=failure)
    return {"run_id": run_id, "status": status, **totals}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return finalize(event["run_id"], event.get("chunk_results"), event.get("error"))
