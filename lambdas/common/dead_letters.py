"""Dead-letter messages in batches (SendMessageBatch, 10 a call), in the workflow's message shape."""

from __future__ import annotations

import json
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


def send_batch(queue_url: str, messages: Iterable[dict[str, Any]]) -> int:
    sqs = client("sqs")
    sent = 0
    batch: list[dict[str, Any]] = []

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
            }
        )
        if len(batch) == 10:
            flush()
    flush()
    return sent


def queue_url(name: str) -> str:
    return str(client("sqs").get_queue_url(QueueName=name)["QueueUrl"])
