"""ArchiveDeadLetters (scheduled): move dead letters older than a set age to the raw bucket before the
queue's retention (14 days) drops them.

Each letter older than ``dlq_archive_after_days`` becomes ``archive/dead-letters/YYYY/MM/DD/<message id>.json``
(the day SQS received it; KMS, the bucket's key; read by the redrive role alone) and is deleted from the queue
only after its object is written. The key is the message id and the write is conditional (If-None-Match),
so a run that stopped between the write and the delete writes nothing new the next time: exactly once.
Younger letters are held invisible while the run lasts (so each is looked at once) and handed back at the end.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from contracts.config import get_settings
from contracts.timestamps import now_iso
from lambdas.common import metrics
from lambdas.common.aws import client
from lambdas.common.dead_letters import (
    ARCHIVE_PREFIX,
    LONG_POLL_SECONDS,
    hand_back,
    kept_letter,
    kept_letter_key,
    put_once,
    queue_url,
)
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("archive-dead-letters")
tracer = get_tracer("archive-dead-letters")

#: How long a looked-at letter stays invisible: longer than a run (the function's timeout is 300 s).
HOLD_SECONDS = 360


@dataclass(frozen=True)
class ArchiveReport:
    archived: int  # written now and deleted from the queue
    already_archived: int  # an earlier run had written the object: only the delete was left
    kept: int  # younger than the age: handed back to the queue


def archive_old_letters(
    sqs: Any, s3: Any, queue: str, bucket: str, older_than_seconds: float, now: float | None = None
) -> ArchiveReport:
    now = time.time() if now is None else now
    seen: set[str] = set()
    young: list[str] = []  # receipt handles
    archived = already = 0
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=HOLD_SECONDS, WaitTimeSeconds=LONG_POLL_SECONDS,
            AttributeNames=["SentTimestamp", "ApproximateReceiveCount"], MessageAttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for m in fresh:
            seen.add(m["MessageId"])
            attributes = m.get("Attributes") or {}
            sent_at = int(attributes.get("SentTimestamp", 0)) / 1000
            if now - sent_at < older_than_seconds:
                young.append(m["ReceiptHandle"])
                continue
            try:
                body: Any = json.loads(m["Body"])
            except ValueError:
                body = m["Body"]
            document = kept_letter(
                m["MessageId"], sent_at, int(attributes.get("ApproximateReceiveCount", 0)), body, archived_at=now_iso()
            )
            if put_once(s3, bucket, kept_letter_key(ARCHIVE_PREFIX, m["MessageId"], sent_at), document):
                archived += 1
            else:
                already += 1
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    hand_back(sqs, queue, young)
    return ArchiveReport(archived=archived, already_archived=already, kept=len(young))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    s = get_settings()
    report = archive_old_letters(
        client("sqs"), client("s3"), queue_url(s.dead_letter_queue_name), s.raw_bucket,
        older_than_seconds=s.dlq_archive_after_days * 86400,
    )  # fmt: skip
    logger.info("dead letters archived", extra=asdict(report))
    metrics.emit("DeadLettersArchived", report.archived)
    return asdict(report)
