"""The entrance logic shared by the local API Gateway stand-in, `mtx send` and the tests.

A body that is not JSON or fails the contract is answered 400 with field errors
and dead-lettered (with the same message shape as the workflow's), so nothing
disappears; a valid body starts one execution of the transaction workflow.

The workflow input is ``{"transaction": <body>, "received_at": <ISO time>, "producer_id": <app id>}``:
``producer_id`` is the application whose credential the API accepted (orchestration/runtime/auth.py; in AWS
the API's request template sets it), outside the transaction so the contract is unchanged.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts import InvalidTransaction, Window, validate_transaction
from contracts.acceptance import skew_hours
from contracts.timestamps import now_iso
from lambdas.common.dead_letters import dead_letter_message, fifo_fields
from orchestration.settings import Settings

Clients = Callable[[str], Any]
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Submission:
    status: int  # 202 accepted, 400 rejected
    body: dict[str, Any]
    execution_arn: str | None = None
    transaction_id: str | None = None


def execution_name(transaction_id: str | None) -> str:
    stem = _NAME_SAFE.sub("_", transaction_id or "tx")[:48]
    return f"{stem}-{uuid.uuid4().hex[:20]}"


def dead_letter_rejection(
    settings: Settings,
    clients: Clients,
    raw: Any,
    error: InvalidTransaction,
    received_at: str,
    queue_url: str,
    producer_id: str | None = None,
) -> None:
    """Dead-letter a body rejected at the entrance, in the workflow's message shape, and alert.

    The record goes to the dead-letter queue only; the alert carries what the workflow's alert carries
    (the error's name, where and when) plus the field names and rules, never the body."""
    name = type(error).__name__
    fields = error.to_dict()["fields"]
    message = dead_letter_message(
        raw, error.transaction_id, name, str(error), received_at, "ApiEntrance", detail={"fields": fields},
    )  # fmt: skip
    message["producer_id"] = producer_id
    attrs = {"error": {"DataType": "String", "StringValue": name}}
    # one identity per rejected request: an SDK retry of this very send is kept once on the FIFO queue
    clients("sqs").send_message(
        QueueUrl=queue_url, MessageBody=json.dumps(message, default=str), MessageAttributes=attrs,
        **fifo_fields(queue_url, uuid.uuid4().hex),
    )  # fmt: skip
    alert = {"error": {"Error": name}, "failed_state": "ApiEntrance", "failed_at": received_at, "fields": fields}
    clients("sns").publish(
        TopicArn=settings.alerts_topic_arn, Subject="MTX transaction dead-lettered", Message=json.dumps(alert),
        MessageAttributes=attrs,
    )  # fmt: skip


def submit(
    raw: bytes | str | dict[str, Any],
    *,
    settings: Settings,
    clients: Clients,
    state_machine_arn: str,
    queue_url: str,
    received_at: str | None = None,
    producer_id: str | None = None,
) -> Submission:
    received_at = received_at or now_iso()
    window = Window.at(received_at, skew_hours(settings.max_future_skew_hours))
    try:
        tx = validate_transaction(raw, window=window)  # text is read by the contract's own JSON reader
    except InvalidTransaction as exc:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        dead_letter_rejection(settings, clients, text, exc, received_at, queue_url, producer_id)
        return Submission(400, {**exc.to_dict(), "dead_lettered": True}, transaction_id=exc.transaction_id)
    payload = json.dumps({"transaction": tx.to_json_dict(), "received_at": received_at, "producer_id": producer_id})
    started = clients("stepfunctions").start_execution(
        stateMachineArn=state_machine_arn, name=execution_name(tx.transaction_id), input=payload
    )
    arn = started["executionArn"]
    return Submission(202, {"executionArn": arn, "transactionId": tx.transaction_id}, arn, tx.transaction_id)


@dataclass
class Outcomes:
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)


#: above this many pending executions, a sweep asks which are still running (ListExecutions, one call per state
#: machine and page) and describes only the others, instead of describing every pending one
_LIST_ABOVE = 4
#: a sweep lists at most max(_LIST_MIN, _LIST_PER_PENDING x pending) running executions a state machine
_LIST_MIN, _LIST_PER_PENDING = 1000, 10


def state_machine_of(execution_arn: str) -> str:
    """``arn:aws:states:<region>:<account>:execution:<machine>:<name>`` -> the state machine's ARN."""
    head, _, rest = execution_arn.partition(":execution:")
    return f"{head}:stateMachine:{rest.split(':', 1)[0]}"  # neither name may hold a colon


def _running(sfn: Any, machines: Iterable[str], pending: int) -> set[str]:
    """Executions listed as running, at most ~10x ``pending`` of them a machine (a busy deployed machine may run
    far more than this sender waits for): one not listed is described, so a short listing costs calls, not
    answers."""
    running: set[str] = set()
    for machine in machines:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine, statusFilter="RUNNING",
            PaginationConfig={"PageSize": 1000, "MaxItems": max(_LIST_MIN, _LIST_PER_PENDING * pending)},
        )  # fmt: skip
        running.update(e["executionArn"] for page in pages for e in page["executions"])
    return running


def wait_for(clients: Clients, execution_arns: Iterable[str], timeout: float = 600.0, poll: float = 0.02) -> Outcomes:
    """Wait for executions to end; sort them by outcome (STORED / DUPLICATE / failed).

    Each ended execution is described once. While many are pending, a sweep lists the running ones
    (ListExecutions) rather than describing each: describing every pending execution every sweep was
    O(pending) calls a sweep, and on the local stack moto served them on the same core as the executions."""
    sfn = clients("stepfunctions")
    pending = list(execution_arns)
    out = Outcomes()
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        if len(pending) > _LIST_ABOVE:
            running = _running(sfn, {state_machine_of(arn) for arn in pending}, len(pending))
            still = [arn for arn in pending if arn in running]
            ended = [arn for arn in pending if arn not in running]
        else:
            still, ended = [], pending
        for arn in ended:  # a listing can lag a start: the description decides
            d = sfn.describe_execution(executionArn=arn)
            status = d["status"]
            if status == "RUNNING":
                still.append(arn)
            elif status == "SUCCEEDED":
                outcome = json.loads(d.get("output") or "{}").get("outcome")
                (out.duplicates if outcome == "DUPLICATE" else out.stored).append(arn)
            else:
                out.failed.append(arn)
        pending = still
        if pending:
            # back off with the backlog: polling must not starve the executions it waits for
            time.sleep(min(1.0, poll * (1 + len(pending) / 10)))
    out.running = pending
    return out
