"""Dead-letter messages in batches (SendMessageBatch, 10 a call), in the workflow's message shape."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from lambdas.common.aws import client


def dead_letter_message(
    transaction: Any,
    transaction_id: str | None,
    error: str,
    reason: str,
    received_at: str,
    failed_state: str,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one dead-letter message shape (the transaction workflow's Catch output has the same keys):
    the transaction as received, its id when known, and the error name and reason (plus any detail, e.g.
    the field errors) in ``error.Cause`` as a Lambda error payload."""
    cause = {"errorType": error, "errorMessage": reason, **(detail or {})}
    return {
        "transaction_id": transaction_id,
        "transaction": transaction,
        "received_at": received_at,
        "error": {"Error": error, "Cause": json.dumps(cause, default=str)},
        "failed_state": failed_state,
    }


def letter_identity(scope: str, message: dict[str, Any], seen: Counter[str]) -> str:
    """A dead letter's identity: where it comes from (``scope``, e.g. the run and chunk), what it says
    (the message without its ``received_at``, which a retry stamps anew) and which occurrence of that
    message it is in the scope (two identical bad records are two letters). A retry that sends the same
    letters again gives them the same identities."""
    canonical = json.dumps({k: v for k, v in message.items() if k != "received_at"}, sort_keys=True, default=str)
    seen[canonical] += 1
    return hashlib.sha256(f"{scope}\n{seen[canonical]}\n{canonical}".encode()).hexdigest()


def fifo_fields(queue_url: str, identity: str) -> dict[str, str]:
    """On the FIFO dead-letter queue (modules/messaging), the identity is the deduplication id, and its own
    message group (no letter waits behind another): a letter sent twice within SQS's five-minute window,
    because a retry followed a send whose answer was lost, is kept once."""
    if not queue_url.endswith(".fifo"):
        return {}
    return {"MessageGroupId": identity, "MessageDeduplicationId": identity}


def send_batch(queue_url: str, messages: Iterable[dict[str, Any]], scope: str) -> int:
    """Send the letters 10 a call; ``scope`` names where they come from (see letter_identity)."""
    sqs = client("sqs")
    sent = 0
    batch: list[dict[str, Any]] = []
    seen: Counter[str] = Counter()

    def flush() -> None:
        nonlocal sent
        if not batch:
            return
        resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=batch)
        if resp.get("Failed"):
            raise RuntimeError(f"dead-letter queue refused {len(resp['Failed'])} messages")
        sent += len(batch)
        batch.clear()

    for msg in messages:
        batch.append(
            {
                "Id": str(len(batch)),
                "MessageBody": json.dumps(msg, default=str),
                "MessageAttributes": {"error": {"DataType": "String", "StringValue": msg["error"]["Error"]}},
                **fifo_fields(queue_url, letter_identity(scope, msg, seen)),
            }
        )
        if len(batch) == 10:
            flush()
    flush()
    return sent


#: queue name -> (the SQS client it was asked with, its URL). A queue's URL is fixed for its name, account and
#: region, so a warm container asks once (GetQueueUrl was one more call on every invocation). Kept with the
#: client it came from: a new client (``reset_clients``: another endpoint, another region) asks again.
_queue_urls: dict[str, tuple[Any, str]] = {}


def queue_url(name: str) -> str:
    sqs = client("sqs")
    found = _queue_urls.get(name)
    if found is not None and found[0] is sqs:
        return found[1]
    url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    _queue_urls[name] = (sqs, url)
    return url


# --- kept letters: the archive and the parking place (raw bucket, read by the redrive role alone) -----------

#: Letters older than the set age, moved there by the scheduled archive (lambdas/archive_dead_letters).
ARCHIVE_PREFIX = "archive/dead-letters/"
#: Letters that failed every redrive, moved there by `mtx dlq redrive` (orchestration/cli/dlq.py).
PARKED_PREFIX = "archive/parked/"


def kept_letter_key(prefix: str, message_id: str, sent_at: float) -> str:
    """``<prefix>YYYY/MM/DD/<message id>.json``, the day SQS received the message (UTC)."""
    return f"{prefix}{time.strftime('%Y/%m/%d', time.gmtime(sent_at))}/{message_id}.json"


def kept_letter(message_id: str, sent_at: float, receive_count: int, body: Any, **extra: Any) -> bytes:
    """A letter as an object: the message as SQS held it (body parsed when it is JSON) and when it was sent."""
    attempt = body.get("redrive_attempt", 0) if isinstance(body, dict) else 0
    document = {"message_id": message_id, "sent_at": sent_at, "receive_count": receive_count,
                "redrive_attempt": attempt, **extra, "body": body}  # fmt: skip
    return json.dumps(document, default=str).encode()


def put_once(s3: Any, bucket: str, key: str, body: bytes) -> bool:
    """Write an object unless the key holds one already (a conditional put, If-None-Match: *): True when
    written, False when an earlier attempt had. No encryption header: the bucket's default, its KMS key."""
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json")
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
    return True


#: A reading of the dead-letter queue that ends on an empty answer (the listing, the redrive's take, the archive)
#: long-polls this many seconds (SQS's minimum). A short poll (0) asks a sample of SQS's servers and may answer
#: nothing while messages wait ("false empty responses"), so its empty answer does not say the queue is empty;
#: a long poll asks them all, and answers as soon as a message is there.
LONG_POLL_SECONDS = 1


def hand_back(sqs: Any, queue: str, receipt_handles: list[str]) -> None:
    """Make received letters visible again, 10 a call. An entry the batch answer lists as failed is tried once
    more alone: left as it was, the letter would stay hidden for its reading's visibility timeout (a redrive or
    an archive run meanwhile would not take it). One deleted or handed back meanwhile (by a redrive beside)
    has nothing left to hand back; any other error is raised."""
    for i in range(0, len(receipt_handles), 10):
        chunk = receipt_handles[i : i + 10]
        entries = [{"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0} for n, h in enumerate(chunk)]
        for failed in sqs.change_message_visibility_batch(QueueUrl=queue, Entries=entries).get("Failed", []):
            with contextlib.suppress(sqs.exceptions.ReceiptHandleIsInvalid, sqs.exceptions.MessageNotInflight):
                sqs.change_message_visibility(
                    QueueUrl=queue, ReceiptHandle=chunk[int(failed["Id"])], VisibilityTimeout=0
                )


def delete_letters(sqs: Any, queue: str, receipt_handles: list[str]) -> None:
    """Delete received letters, 10 a call. An entry the batch answer lists as failed is tried once more alone,
    and an error of that call is raised: a letter left in the queue comes back after its visibility timeout
    and would be taken for one still to settle."""
    for i in range(0, len(receipt_handles), 10):
        chunk = receipt_handles[i : i + 10]
        entries = [{"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(chunk)]
        for failed in sqs.delete_message_batch(QueueUrl=queue, Entries=entries).get("Failed", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=chunk[int(failed["Id"])])
