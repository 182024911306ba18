"""The last-resort net: an execution that failed, timed out or was aborted outside its workflow's own
failure paths gets its input put on the dead-letter queue, once.

Target of the EventBridge rule on "Step Functions Execution Status Change" (FAILED / TIMED_OUT / ABORTED)
for the Standard workflows (infra/terraform/modules/triggers; Express workflows emit no such events,
which is what the PENDING sweeper is for). Locally the runtime plays that rule
(orchestration/runtime/triggers.py ExecutionStatusEvents) with the same event shape. An execution that ended in
one of its workflow's settled Fail states (``SETTLED_FAILS``: the failure was recorded, alerted and, for
a transaction, dead-lettered already) is left alone. Logs name the execution and the error class only.
"""

from __future__ import annotations

from typing import Any

from contracts.config import Settings
from lambdas.common import metrics
from lambdas.common.errors import stable_errors
from lambdas.common.execution_dead_letters import ENDED_BADLY, SETTLED_FAILS, dead_letter_once, describe, workflow_of
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("dead-letter-failed-execution")
tracer = get_tracer("dead-letter-failed-execution")
NET_STATE = "LastResortNet"


#: The entrance whose executions each workflow runs (the Entrance dimension of the metrics).
ENTRANCE = {"transaction": "api", "batch_ingest": "file"}


def error_name(status: str, error: str | None) -> str:
    """The error a dead letter carries: the execution's own, else what its status means."""
    if error:
        return error
    return {"TIMED_OUT": "States.Timeout", "ABORTED": "ExecutionAborted"}.get(status, "ExecutionFailed")


def reason(workflow: str, status: str, error: str) -> str:
    """A sentence naming the workflow, the status and the error class: never the execution's cause."""
    return (
        f"the {workflow} execution ended {status} ({error}) outside the workflow's dead-letter paths;"
        " its input is attached (the last-resort net)"
    )


def on_status_change(
    event: dict[str, Any], claimed_by: str = "net", settings: Settings | None = None
) -> dict[str, Any]:
    detail = event.get("detail") or {}
    arn = str(detail.get("executionArn") or "")
    status = str(detail.get("status") or "")
    workflow = workflow_of(str(detail.get("stateMachineArn") or ""), settings)
    if not arn or status not in ENDED_BADLY or workflow is None:
        return {"execution_arn": arn, "outcome": "ignored"}
    error = detail.get("error") or None
    if status == "FAILED" and error in SETTLED_FAILS[workflow]:
        return {"execution_arn": arn, "outcome": "settled_by_workflow", "error": error}
    name = error_name(status, error)
    execution = describe(arn)
    outcome = dead_letter_once(
        workflow, arn, name, reason(workflow, status, name), execution.input, NET_STATE, claimed_by,
        pointer=None if execution.input is not None else {"execution_status": status}, settings=settings,
    )  # fmt: skip
    logger.info("execution dead-lettered by the net", extra={"execution_arn": arn, "error": name, "outcome": outcome})
    if outcome == "sent":
        metrics.emit("DeadLettered", 1, Entrance=ENTRANCE.get(workflow, workflow), Reason=name)
    return {"execution_arn": arn, "outcome": "dead_lettered" if outcome == "sent" else "already_dead_lettered"}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return on_status_change(event, claimed_by=str(getattr(context, "aws_request_id", "net")))
