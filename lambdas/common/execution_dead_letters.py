"""Dead-lettering a whole execution's input, once: shared by the last-resort net and the PENDING sweeper.

Both put an execution's input on the dead-letter queue when the workflow itself did not (it died in a
state with no dead-letter path, timed out, was aborted, or left its record PENDING). Both may see the
same execution (the net when it fails, the sweeper when its record is still PENDING later; EventBridge
delivers at least once), so both go through one ledger keyed by the execution ARN
(``settings.execution_dead_letters_table``):

1. claim: a conditional put (no item yet, or a claim older than ``CLAIM_LEASE_SECONDS`` whose holder
   died); a lost race or an item already SENT means someone else did or is doing it: nothing is sent;
2. send the dead letter (the record's own shape: see ``lambdas/common/dead_letters.py``);
3. mark the item SENT. A send that fails releases the claim before the error leaves, so a retry
   can claim again.

Only a crash between 2 and 3 can send twice (after the lease), the at-least-once window SQS itself
has; ``orchestration/cli/dlq.py`` redrive runs a transaction id once however many letters carry it.

Messages name the error class, the workflow, the state and the execution, never a value of the
record: the execution's ``cause`` is not copied (``States.Runtime`` causes quote the input).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from contracts.config import Settings, get_settings
from lambdas.common.aws import client
from lambdas.common.dead_letters import dead_letter_message, fifo_fields, queue_url

#: Workflow (ASL file stem) -> the Fail errors that end its own failure path, where the failure has been
#: recorded, alerted and, for a transaction, dead-lettered already (DataValidationError: a reject;
#: TransactionNotStored: a valid transaction out of retries). An execution that
#: fails with any other error (an uncaught States.*, DeadLetterQueueUnavailable) escaped them: the net
#: takes it. tests/unit/test_execution_dead_letters.py checks this against every Fail state of the ASL files.
SETTLED_FAILS: dict[str, frozenset[str]] = {
    "transaction": frozenset({"DataValidationError", "TransactionNotStored"}),
    "batch_ingest": frozenset({"BatchIngestFailed"}),
    "analytics_refresh": frozenset({"AnalyticsRefreshFailed"}),
    "analytics_job": frozenset({"AnalyticsJobFailed"}),
}
#: Fail states that end a workflow WITHOUT its input settled anywhere: the net dead-letters these.
UNSETTLED_FAILS: dict[str, frozenset[str]] = {
    "transaction": frozenset({"DeadLetterQueueUnavailable"}),
}
#: Statuses of "Step Functions Execution Status Change" events the net acts on.
ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")
#: A claim older than this was left by an invocation that died (longer than either function's timeout).
CLAIM_LEASE_SECONDS = 300
CLAIMED, SENT = "CLAIMED", "SENT"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO timestamp (Step Functions' EnteredTime, ours) or epoch milliseconds, as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(float(value) / 1000, dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def workflow_of(state_machine_arn: str, settings: Settings | None = None) -> str | None:
    """Our workflow a state machine ARN belongs to (by the name Terraform and the manifest give it)."""
    s = settings or get_settings()
    # arn:aws:states:<region>:<account>:stateMachine:<name>[:<alias or version>]
    parts = state_machine_arn.split(":")
    name = parts[parts.index("stateMachine") + 1] if "stateMachine" in parts[:-1] else parts[-1]
    return next((w for w in SETTLED_FAILS if s.state_machine_name(w) == name), None)


def execution_of(execution_arn: str) -> str:
    """The ARN of an execution's state machine: arn:...:execution:<machine>:<name> (Express: express:...)."""
    parts = execution_arn.split(":")
    if len(parts) >= 8 and parts[5] in ("execution", "express"):
        return ":".join([*parts[:5], "stateMachine", parts[6]])
    return execution_arn


@dataclass(frozen=True)
class Execution:
    """What DescribeExecution says of an execution; None fields when it could not say (Express in AWS)."""

    status: str | None
    input: Any
    error: str | None


def describe(execution_arn: str) -> Execution:
    """DescribeExecution, or an Execution of unknowns when the API cannot describe it (an Express
    execution in AWS, an execution whose history has expired)."""
    sfn = client("stepfunctions")
    try:
        found = sfn.describe_execution(executionArn=execution_arn)
    except sfn.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("ExecutionDoesNotExist", "InvalidArn", "UnsupportedOperation", "ValidationException"):
            return Execution(status=None, input=None, error=None)
        raise
    raw = found.get("input")
    try:
        parsed = json.loads(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        parsed = None
    return Execution(status=str(found.get("status")), input=parsed, error=found.get("error"))


def execution_letter(
    workflow: str,
    execution_arn: str,
    error: str,
    reason: str,
    execution_input: Any,
    failed_state: str,
    pointer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The dead letter of an execution: a transaction workflow's input in the transaction dead-letter shape
    (so `mtx dlq redrive` can replay it); another workflow's input under ``execution_input`` (redrive leaves
    those for a person); no input at all (DescribeExecution could not give it): the ``pointer`` fields,
    which name the record, never a fabricated one."""
    is_transaction = workflow == "transaction" and isinstance(execution_input, dict)
    tx = execution_input.get("transaction") if is_transaction else None
    tx_id = (pointer or {}).get("transaction_id")
    if isinstance(tx, dict) and isinstance(tx.get("transactionId"), str):
        tx_id = tx_id or tx["transactionId"]
    letter = dead_letter_message(
        transaction=tx,
        transaction_id=tx_id,
        error=error,
        reason=reason,
        received_at=str(execution_input.get("received_at") or "") if is_transaction else "",
        failed_state=failed_state,
    )
    letter.update(
        {
            "workflow": workflow,
            "execution_id": execution_arn,
            "failed_at": iso(now_utc()),
        }
    )
    if is_transaction:
        letter["producer_id"] = execution_input.get("producer_id")
    elif execution_input is not None:
        letter["execution_input"] = execution_input
    if execution_input is None:
        letter["input_unavailable"] = True
        letter.update({k: v for k, v in (pointer or {}).items() if k != "transaction_id"})
    return letter


def _ledger(settings: Settings) -> tuple[Any, str]:
    return client("dynamodb"), settings.execution_dead_letters_table


def ledger_state(execution_arn: str, settings: Settings | None = None) -> str | None:
    ddb, table = _ledger(settings or get_settings())
    item = ddb.get_item(TableName=table, Key={"execution_arn": {"S": execution_arn}}, ConsistentRead=True).get("Item")
    return None if item is None else str(item["state"]["S"])


def dead_letter_once(
    workflow: str,
    execution_arn: str,
    error: str,
    reason: str,
    execution_input: Any,
    failed_state: str,
    claimed_by: str,
    pointer: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> str:
    """Put the execution's dead letter on the queue unless it is there already (or being put there).

    Returns "sent", or "already" when the ledger shows another invocation sent or is sending it."""
    s = settings or get_settings()
    ddb, table = _ledger(s)
    now = now_utc()
    claimed_by = f"{claimed_by}:{uuid.uuid4().hex}"  # this invocation's own token
    key = {"execution_arn": {"S": execution_arn}}
    try:
        ddb.put_item(
            TableName=table,
            Item={
                **key,
                "state": {"S": CLAIMED},
                "claimed_at": {"S": iso(now)},
                "claimed_by": {"S": claimed_by},
                "workflow": {"S": workflow},
                "error_name": {"S": error},
            },
            ConditionExpression="attribute_not_exists(execution_arn) OR (#state = :claimed AND claimed_at < :stale)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":claimed": {"S": CLAIMED},
                ":stale": {"S": iso(now - dt.timedelta(seconds=CLAIM_LEASE_SECONDS))},
            },
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        return "already"
    letter = execution_letter(workflow, execution_arn, error, reason, execution_input, failed_state, pointer)
    try:
        url = queue_url(s.dead_letter_queue_name)
        sent = client("sqs").send_message(
            QueueUrl=url,
            MessageBody=json.dumps(letter, default=str),
            MessageAttributes={"error": {"DataType": "String", "StringValue": error}},
            **fifo_fields(url, hashlib.sha256(execution_arn.encode()).hexdigest()),
        )
    except Exception:
        # give the claim back, so that the retry of this invocation can claim and send
        ddb.delete_item(
            TableName=table,
            Key=key,
            ConditionExpression="#state = :claimed AND claimed_by = :me",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":claimed": {"S": CLAIMED}, ":me": {"S": claimed_by}},
        )
        raise
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #state = :sent, sent_at = :now, message_id = :message",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={
            ":sent": {"S": SENT},
            ":now": {"S": iso(now_utc())},
            ":message": {"S": str(sent["MessageId"])},
        },
    )
    return "sent"


def stale_claims(settings: Settings | None = None) -> list[dict[str, str]]:
    """Claims whose holder died between claiming and marking SENT (older than the lease)."""
    ddb, table = _ledger(settings or get_settings())
    cutoff = now_utc() - dt.timedelta(seconds=CLAIM_LEASE_SECONDS)
    found = []
    for page in ddb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="#state = :claimed",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":claimed": {"S": CLAIMED}},
    ):
        for item in page.get("Items", []):
            claimed_at = parse_time(item["claimed_at"]["S"])
            if claimed_at is not None and claimed_at < cutoff:
                found.append({k: v["S"] for k, v in item.items() if "S" in v})
    return found
