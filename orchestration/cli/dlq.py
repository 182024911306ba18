"""The dead-letter queue: list what failed and why; redrive it once the cause is fixed; park and archive.

Redrive takes every message present when it starts (kept invisible while it works), starts the
transaction workflow again with the original transaction (once per transaction id, should SQS's
at-least-once delivery have doubled a message) and ``redrive_attempt`` = the letter's attempts + 1, and
deletes the message(s) only once the new execution settled the transaction. It learns that without
DescribeExecution (AWS has none for Express workflows) from what the workflow itself writes:

- stored: the execution status item of the transaction is COMPLETED by this very execution
  (``execution_id`` is written by RegisterTransaction), or COMPLETED by another one (a duplicate);
  an old FAILED status of an earlier execution is never taken for the new outcome;
- dead-lettered again: a new message in the queue whose ``execution_id`` is this execution's (the
  workflow's dead letters carry it, and ``redrive_attempt``).

Anything else within the timeout (still running, failed before the dead-letter queue was reached) keeps
the old message, visible again: nothing is lost. Each round of the wait reads the waiting executions' status
items 100 a call (a consistent BatchGetItem); letters are deleted and handed back 10 a call, so a queue of
thousands of letters costs hundreds of calls a round, not thousands. A letter that failed ``max_redrives``
redrives is parked (``archive/parked/YYYY/MM/DD/<message id>.json`` of the raw bucket, KMS, a conditional
write keyed by the message id), deleted from the queue and no longer redriven; the scheduled archive
(archive_dead_letters) moves letters older than a set age to ``archive/dead-letters/`` the same way, before
the 14-day retention.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from contracts.lifecycle import message_key
from lambdas.common.dead_letters import (
    ARCHIVE_PREFIX,
    LONG_POLL_SECONDS,
    PARKED_PREFIX,
    delete_letters,
    hand_back,
    kept_letter,
    kept_letter_key,
    put_once,
)
from lambdas.common.errors import cause_message
from orchestration.runtime.ingest import Clients, execution_name, now_iso
from orchestration.settings import Settings, get_settings


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
    def attempts(self) -> int:
        """How many times the transaction was redriven when this letter was written (0: never)."""
        value = self.body.get("redrive_attempt")
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    @property
    def execution_id(self) -> str | None:
        value = self.body.get("execution_id")
        return value if isinstance(value, str) else None

    @property
    def failed_state(self) -> str:
        return str(self.body.get("failed_state") or "-")

    def age_seconds(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.sent_at) if self.sent_at else 0.0


def _parse(message: dict[str, Any]) -> DeadLetter:
    try:
        body = json.loads(message["Body"])
    except ValueError:
        body = None
    if not isinstance(body, dict):  # not ours: shown and kept for a person, never redriven
        body = {"error": {"Error": "NotADeadLetter"}}
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


def receive_all(
    clients: Clients,
    queue_url: str,
    visibility_timeout: int,
    limit: int = 100_000,
    wait_seconds: int = LONG_POLL_SECONDS,
) -> list[DeadLetter]:
    """Every message once, each kept invisible while the rest are read. Ends when the queue answers
    nothing to a long poll, or only with messages already read: in a queue long enough that reading it
    outlasts the visibility timeout, the first messages come back before the queue runs dry, which must not
    make the reading go round forever. ``wait_seconds`` 0 (a short poll) only for a caller that reads again
    anyway (the redrive's wait for outcomes): a false empty answer only puts off what it sees to its next look."""
    sqs = clients("sqs")
    found: dict[str, DeadLetter] = {}
    nothing_new = 0
    while len(found) < limit and nothing_new < 50:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=wait_seconds, MessageAttributeNames=["All"],
            AttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
        ).get("Messages", [])  # fmt: skip
        if not batch:
            break
        new = [m for m in batch if m["MessageId"] not in found]
        nothing_new = 0 if new else nothing_new + 1
        for m in batch:  # a message read again: its latest receipt handle is the one that settles it
            found[m["MessageId"]] = _parse(m)
    return list(found.values())


def list_dead_letters(clients: Clients, queue_url: str) -> list[DeadLetter]:
    """Peek: messages are received and made visible again at once."""
    letters = receive_all(clients, queue_url, visibility_timeout=300)
    hand_back(clients("sqs"), queue_url, [d.receipt_handle for d in letters])
    return letters


def summarise(letters: list[DeadLetter]) -> Counter[str]:
    return Counter(d.error for d in letters)


def human_age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _row(d: DeadLetter, now: float | None) -> dict[str, Any]:
    return {"transaction_id": d.transaction_id, "error": d.error, "failed_state": d.failed_state,
            "age_seconds": round(d.age_seconds(now), 1), "receive_count": d.receive_count, "attempts": d.attempts,
            "reason": d.reason, "message_id": d.message_id}  # fmt: skip


def listing_document(
    letters: list[DeadLetter], now: float | None = None, parked: list[DeadLetter] | None = None
) -> dict[str, Any]:
    """The queue as data (``mtx dlq list --json``): one entry per message oldest first (ids, error, where it
    failed, age, receives, redrive attempts, the reason naming fields and rules), the totals by error and the
    oldest age; then the parked letters (no longer redriven), apart. Never a field of the record."""
    parked = parked or []
    return {
        "dead_letters": [_row(d, now) for d in sorted(letters, key=lambda d: d.sent_at)],
        "total": len(letters),
        "oldest_age_seconds": round(max((d.age_seconds(now) for d in letters), default=0.0), 1),
        "by_error": dict(summarise(letters)),
        "parked": [_row(d, now) for d in sorted(parked, key=lambda d: d.sent_at)],
        "parked_by_error": dict(summarise(parked)),
    }


def listing(letters: list[DeadLetter], now: float | None = None, parked: list[DeadLetter] | None = None) -> list[Any]:
    """The operator's view of :func:`listing_document`, as rich tables (``mtx dlq list``): the queue with its
    totals, then the parked letters under their own title."""
    from orchestration.cli import output

    document = listing_document(letters, now, parked)
    columns = ("transaction id", "error", "failed in", "age", "recv", "tries", "reason")

    def rows(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(e["transaction_id"], e["error"], e["failed_state"], human_age(e["age_seconds"]), e["receive_count"],
                 e["attempts"], e["reason"][:160]) for e in entries]  # fmt: skip

    numeric = ("age", "recv", "tries")
    oldest = human_age(document["oldest_age_seconds"])
    shown: list[Any] = [
        output.table(columns, rows(document["dead_letters"]), numeric=numeric, title="dead-letter queue"),
        f"{document['total']} dead-lettered, oldest {oldest}: {document['by_error']}",
    ]
    if document["parked"]:
        title = f"parked (failed every redrive; not redriven again, kept in s3 {PARKED_PREFIX})"
        shown += ["", output.table(columns, rows(document["parked"]), numeric=numeric, title=title),
                  f"{len(document['parked'])} parked: {document['parked_by_error']}"]  # fmt: skip
    return shown


@dataclass(frozen=True)
class RedriveReport:
    taken: int
    stored: int
    duplicates: int
    #: failed again and dead-lettered anew by the new execution (its letter carries the attempt count)
    failed_again: int
    not_redrivable: int
    #: not settled within the timeout (still running, or failed without being dead-lettered anew): the old
    #: message stays in the queue, visible again, so nothing is lost
    kept: int = 0
    #: failed max_redrives redrives: moved to archive/parked/ of the raw bucket, no longer redriven
    parked: int = 0


def park(clients: Clients, settings: Settings, queue_url: str, d: DeadLetter) -> None:
    """Move one letter to the parking place, then delete it from the queue (in that order)."""
    key = kept_letter_key(PARKED_PREFIX, d.message_id, d.sent_at or time.time())
    document = kept_letter(d.message_id, d.sent_at, d.receive_count, d.body, parked_at=now_iso())
    put_once(clients("s3"), settings.raw_bucket, key, document)
    clients("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=d.receipt_handle)


def _from_object(document: dict[str, Any], key: str = "") -> DeadLetter:
    raw = document.get("body")
    body: dict[str, Any] = raw if isinstance(raw, dict) else {"error": {"Error": "NotADeadLetter"}}
    error = body.get("error") or {}
    return DeadLetter(
        message_id=str(document.get("message_id")), receipt_handle=key, transaction_id=body.get("transaction_id"),
        error=str(error.get("Error", "Unknown")), reason=cause_message(error), body=body,
        sent_at=float(document.get("sent_at") or 0), receive_count=int(document.get("receive_count") or 0),
    )  # fmt: skip


def stored_letters(clients: Clients, settings: Settings, prefix: str) -> list[DeadLetter]:
    """The letters kept under a prefix of the raw bucket (parked, or archived on a day); ``receipt_handle``
    holds the object's key."""
    s3 = clients("s3")
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.raw_bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            document = json.loads(s3.get_object(Bucket=settings.raw_bucket, Key=obj["Key"])["Body"].read())
            found.append(_from_object(document, obj["Key"]))
    return found


def parked_letters(clients: Clients, settings: Settings | None = None) -> list[DeadLetter]:
    return stored_letters(clients, settings or get_settings(), PARKED_PREFIX)


def _settled(status: dict[str, Any] | None, execution_arn: str) -> str | None:
    """stored / duplicate from the execution status item, or None while it says nothing about this execution."""
    if not status or status.get("status", {}).get("S") != "COMPLETED":
        return None
    return "stored" if status.get("execution_id", {}).get("S") == execution_arn else "duplicate"


def letter_transaction_id(d: DeadLetter) -> str | None:
    """The transaction id of a dead letter: its own, or the one in the record it carries."""
    tx = d.body.get("transaction")
    found = d.transaction_id or (tx.get("transactionId") if isinstance(tx, dict) else None)
    return found if isinstance(found, str) else None


def letter_message_key(d: DeadLetter) -> str | None:
    """The message key (``<transactionId>/<status>``, contracts.lifecycle.message_key) of a dead letter's record:
    the key of its item in the execution status table. The bare id when the record has no readable status
    (a record the contract refused may lack one; its execution never registered it)."""
    tx_id = letter_transaction_id(d)
    tx = d.body.get("transaction")
    payment = tx.get("payment_details") if isinstance(tx, dict) else None
    status = payment.get("transaction_status") if isinstance(payment, dict) else None
    if tx_id is None or not isinstance(status, str) or not status:
        return tx_id
    return message_key(tx_id, status)


def _start(clients: Clients, state_machine_arn: str, d: DeadLetter) -> str:
    """Start the transaction workflow again with the letter's transaction and its next attempt number."""
    payload = json.dumps(
        {"transaction": d.body["transaction"], "received_at": d.body.get("received_at") or now_iso(),
         "producer_id": d.body.get("producer_id"), "redrive_attempt": d.attempts + 1}
    )  # fmt: skip
    name = execution_name(letter_transaction_id(d))
    return str(
        clients("stepfunctions").start_execution(stateMachineArn=state_machine_arn, name=name, input=payload)[
            "executionArn"
        ]
    )


#: keys a BatchGetItem may ask
STATUS_BATCH = 100


#: BatchGetItem calls for one slice of keys: the keys DynamoDB leaves unprocessed (it does under throttling) are
#: asked again, with a short pause, up to this many calls
STATUS_TRIES = 4


def _statuses(ddb: Any, table: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Message key -> its execution status item, for the keys the table holds: consistent BatchGetItem, 100
    keys a call. A key still unprocessed after ``STATUS_TRIES`` calls is absent: the caller looks again next
    round (or, after its last round, keeps the letter: nothing is lost, its transaction is a duplicate later)."""
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(keys), STATUS_BATCH):
        request: dict[str, Any] = {table: {"Keys": [{"transaction_id": {"S": k}} for k in keys[i : i + STATUS_BATCH]],
                                           "ConsistentRead": True}}  # fmt: skip
        for attempt in range(STATUS_TRIES):
            answer = ddb.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                found[item["transaction_id"]["S"]] = item
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05 * 2**attempt)
    return found


def _wait_for_outcomes(
    clients: Clients, settings: Settings, queue_url: str, started: dict[str, str | None], timeout: float, poll: float
) -> tuple[dict[str, str], int]:
    """Execution arn -> stored / duplicate / dead-lettered, for those settled within the timeout; and how many
    of the new letters were parked (they failed the last allowed redrive). New letters of other executions are
    handed back at once; the letters being redriven are invisible meanwhile, so they are not seen here. Each
    round reads the unsettled executions' status items 100 a call and hands letters back 10 a call."""
    ddb, sqs = clients("dynamodb"), clients("sqs")
    outcome: dict[str, str] = {}
    parked = 0
    deadline = time.monotonic() + timeout
    while len(outcome) < len(started):
        waiting = {arn: tx_id for arn, tx_id in started.items() if arn not in outcome and tx_id}
        # one key once a call (DynamoDB refuses a repeated key): two archived letters may share one
        statuses = _statuses(ddb, settings.execution_status_table, sorted(set(waiting.values())))
        for arn, tx_id in waiting.items():
            if settled := _settled(statuses.get(tx_id), arn):
                outcome[arn] = settled
        # a short poll: this loop looks again each round, so a false empty answer only delays what it sees
        others: list[str] = []
        for new in receive_all(clients, queue_url, visibility_timeout=30, wait_seconds=0):
            arn = new.execution_id or ""
            if arn in started and arn not in outcome:
                outcome[arn] = "dead-lettered"
                if new.attempts >= settings.dlq_max_redrives:
                    park(clients, settings, queue_url, new)
                    parked += 1
                    continue
            others.append(new.receipt_handle)
        hand_back(sqs, queue_url, others)
        if len(outcome) == len(started) or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    return outcome, parked


def redrive(
    clients: Clients,
    queue_url: str,
    state_machine_arn: str,
    timeout: float = 600.0,
    *,
    settings: Settings | None = None,
    poll: float = 0.5,
) -> RedriveReport:
    s = settings or get_settings()
    letters = receive_all(clients, queue_url, visibility_timeout=int(timeout) + 60)
    sqs = clients("sqs")
    started: dict[str, list[DeadLetter]] = {}
    tx_ids: dict[str, str | None] = {}  # execution arn -> message key (the key of its status item)
    by_id: dict[str, str] = {}  # message key -> execution arn: a message sent twice runs once
    parked = 0
    not_json: list[str] = []
    try:
        for d in letters:
            if not isinstance(d.body.get("transaction"), dict):
                # Not JSON at all: nothing to run again. It stays in the queue for a person.
                not_json.append(d.receipt_handle)
                continue
            if d.attempts >= s.dlq_max_redrives:
                park(clients, s, queue_url, d)
                parked += 1
                continue
            tx_id = letter_message_key(d)
            if tx_id and tx_id in by_id:
                started[by_id[tx_id]].append(d)
                continue
            arn = _start(clients, state_machine_arn, d)
            started[arn] = [d]
            tx_ids[arn] = tx_id
            if tx_id:
                by_id[tx_id] = arn
    finally:  # visible again at once, also when a start failed
        hand_back(sqs, queue_url, not_json)
    outcome, parked_after = _wait_for_outcomes(clients, s, queue_url, tx_ids, timeout, poll)
    settled: list[str] = []
    unsettled: list[str] = []  # kept: visible again for a later redrive
    for arn, letters_of_arn in started.items():
        (settled if arn in outcome else unsettled).extend(d.receipt_handle for d in letters_of_arn)
    try:
        delete_letters(sqs, queue_url, settled)
    finally:  # the kept letters visible again even when a delete failed
        hand_back(sqs, queue_url, unsettled)
    counts = Counter(outcome.values())
    return RedriveReport(
        taken=len(letters),
        stored=counts["stored"],
        duplicates=counts["duplicate"],
        failed_again=counts["dead-lettered"],
        not_redrivable=len(not_json),
        kept=len(unsettled),
        parked=parked + parked_after,
    )


def replay_archived(
    clients: Clients,
    queue_url: str,
    state_machine_arn: str,
    day: str,
    timeout: float = 600.0,
    *,
    settings: Settings | None = None,
    poll: float = 0.5,
) -> RedriveReport:
    """Redrive the letters archived on a day (``YYYY-MM-DD``, the day SQS had received them): each archived
    object is deleted once its new execution settled the transaction (stored, a duplicate, or dead-lettered
    again: then it is in the queue again, with its attempt count), and kept otherwise."""
    s = settings or get_settings()
    prefix = f"{ARCHIVE_PREFIX}{day.replace('-', '/')}/"
    letters = stored_letters(clients, s, prefix)
    s3 = clients("s3")
    started: dict[str, DeadLetter] = {}
    tx_ids: dict[str, str | None] = {}
    not_redrivable = 0
    for d in letters:
        if not isinstance(d.body.get("transaction"), dict):
            not_redrivable += 1
            continue
        arn = _start(clients, state_machine_arn, d)
        started[arn], tx_ids[arn] = d, letter_message_key(d)
    outcome, parked = _wait_for_outcomes(clients, s, queue_url, tx_ids, timeout, poll)
    for arn, d in started.items():
        if arn in outcome:
            s3.delete_object(Bucket=s.raw_bucket, Key=d.receipt_handle)
    counts = Counter(outcome.values())
    return RedriveReport(
        taken=len(letters), stored=counts["stored"], duplicates=counts["duplicate"],
        failed_again=counts["dead-lettered"], not_redrivable=not_redrivable,
        kept=len(started) - len(outcome), parked=parked,
    )  # fmt: skip
