"""The dead-letter queue: list what failed and why; redrive it once the cause is fixed.

Redrive takes every message present when it starts (kept invisible while it
works), starts the workflow again with the original transaction (once per
transaction id, should SQS's at-least-once delivery have doubled a message),
waits for the execution, then deletes the message(s). A transaction that fails again is
dead-lettered again by its new execution, so each one is in the queue at most once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from lambdas.common.errors import cause_message
from orchestration.ingest import Clients, execution_name, now_iso, wait_for


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    transaction_id: str | None
    error: str
    reason: str
    body: dict[str, Any]
    #: when SQS first received the message (epoch seconds) and how often it has been received since
    sent_at: float = 0.0
    receive_count: int = 0

    @property
    def failed_state(self) -> str:
        return str(self.body.get("failed_state") or "-")

    def age_seconds(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.sent_at) if self.sent_at else 0.0


def _parse(message: dict[str, Any]) -> DeadLetter:
    body = json.loads(message["Body"])
    error = body.get("error") or {}
    attributes = message.get("Attributes") or {}
    return DeadLetter(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        transaction_id=body.get("transaction_id"),
        error=str(error.get("Error", "Unknown")),
        reason=cause_message(error),
        body=body,
        sent_at=int(attributes.get("SentTimestamp", 0)) / 1000,
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
    )


def receive_all(clients: Clients, queue_url: str, visibility_timeout: int, limit: int = 100_000) -> list[DeadLetter]:
    sqs = clients("sqs")
    found: dict[str, DeadLetter] = {}
    while len(found) < limit:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=0, MessageAttributeNames=["All"],
            AttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
        ).get("Messages", [])  # fmt: skip
        if not batch:
            break
        for m in batch:
            found.setdefault(m["MessageId"], _parse(m))
    return list(found.values())


def list_dead_letters(clients: Clients, queue_url: str) -> list[DeadLetter]:
    """Peek: messages are received and made visible again at once."""
    letters = receive_all(clients, queue_url, visibility_timeout=30)
    sqs = clients("sqs")
    for i in range(0, len(letters), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": d.receipt_handle, "VisibilityTimeout": 0}
            for n, d in enumerate(letters[i : i + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    return letters


def summarise(letters: list[DeadLetter]) -> Counter[str]:
    return Counter(d.error for d in letters)


def human_age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def listing(letters: list[DeadLetter], now: float | None = None) -> list[str]:
    """The operator's view of the queue: one line per message (transaction id, error, where it failed, age,
    receives) oldest first, then the totals by error and the oldest age. Never a field of the record: the
    reasons name fields and rules only."""
    lines = [f"{'transaction id':<28} {'error':<22} {'failed in':<18} {'age':>7} {'recv':>4}  reason"]
    for d in sorted(letters, key=lambda d: d.sent_at):
        lines.append(
            f"{(d.transaction_id or '-')[:28]:<28} {d.error[:22]:<22} {d.failed_state[:18]:<18} "
            f"{human_age(d.age_seconds(now)):>7} {d.receive_count:>4}  {d.reason[:160]}"
        )
    oldest = max((d.age_seconds(now) for d in letters), default=0.0)
    lines.append(f"{len(letters)} dead-lettered, oldest {human_age(oldest)}: {dict(summarise(letters))}")
    return lines


@dataclass(frozen=True)
class RedriveReport:
    taken: int
    stored: int
    duplicates: int
    failed_again: int
    not_redrivable: int
    #: failed again without being dead-lettered anew (the execution did not end in DEAD_LETTERED_FAIL, or is
    #: still running): the old message stays in the queue, visible again, so nothing is lost
    kept: int = 0


#: the Fail state a transaction workflow ends in once it has put the transaction on the dead-letter queue
DEAD_LETTERED_FAIL = "DataValidationError"


def redrive(clients: Clients, queue_url: str, state_machine_arn: str, timeout: float = 600.0) -> RedriveReport:
    letters = receive_all(clients, queue_url, visibility_timeout=int(timeout) + 60)
    sfn = clients("stepfunctions")
    sqs = clients("sqs")
    started: dict[str, list[DeadLetter]] = {}
    by_id: dict[str, str] = {}  # transaction id -> execution arn: a message sent twice runs once
    not_redrivable = 0
    for d in letters:
        tx = d.body.get("transaction")
        if not isinstance(tx, dict):
            # Not JSON at all: nothing to run again. It stays in the queue for a person.
            not_redrivable += 1
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=d.receipt_handle, VisibilityTimeout=0)
            continue
        if d.transaction_id and d.transaction_id in by_id:
            started[by_id[d.transaction_id]].append(d)
            continue
        payload = json.dumps(
            {"transaction": tx, "received_at": d.body.get("received_at") or now_iso(),
             "producer_id": d.body.get("producer_id")}
        )  # fmt: skip
        arn = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=execution_name(d.transaction_id), input=payload
        )["executionArn"]
        started[arn] = [d]
        if d.transaction_id:
            by_id[d.transaction_id] = arn
    outcomes = wait_for(clients, started, timeout=timeout)
    # A message leaves the queue only once its transaction is settled: stored, a duplicate, or failed again
    # AND dead-lettered again by that execution (it ended in the workflow's dead-lettered Fail). Anything
    # else (a failure before the dead-letter queue was reached, a timeout) keeps the message.
    relettered = [
        arn for arn in outcomes.failed if sfn.describe_execution(executionArn=arn).get("error") == DEAD_LETTERED_FAIL
    ]
    settled = {*outcomes.stored, *outcomes.duplicates, *relettered}
    kept = 0
    for arn, letters_of_arn in started.items():
        for d in letters_of_arn:
            if arn in settled:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=d.receipt_handle)
            else:
                kept += 1
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=d.receipt_handle, VisibilityTimeout=0)
    return RedriveReport(
        taken=len(letters),
        stored=len(outcomes.stored),
        duplicates=len(outcomes.duplicates),
        failed_again=len(outcomes.failed),
        not_redrivable=not_redrivable,
        kept=kept,
    )
