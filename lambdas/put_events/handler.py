"""PutEvents: ``POST /events`` of the API, up to 500 transactions into the Kinesis stream (``PutRecords``).

API Gateway hands the request over as a REST proxy event (modules/api; the local API builds the same
event). The body is ``{"records": [<transaction>, ...]}``, 1 to :data:`MAX_RECORDS` records. Each record goes
into the stream as the producer sent it (its own bytes, cut out of the body, never parsed and written
again: a duplicate key or a number the contract refuses reaches the stream's handler, which dead-letters
it with its reason), partition key its ``transactionId``: every version of one transaction lands on the
same shard, behind the earlier ones, so the stream's handler sees them in the order they were sent.

The answer names each record by its index, never by a value:

* ``accepted``: the stream took it (its shard and sequence number);
* ``refused``: not sent, a rule broken that the stream's handler could not name later: over
  :data:`contracts.MAX_TRANSACTION_BYTES` (``body.too_large``) or not a JSON object (``json.not_object``);
* ``failed``: ``PutRecords`` reported it failed (throttled, an internal error): send it again.

A body that is not ``{"records": [...]}`` with 1 to 500 records is a 400 naming the rule
(``events.records``, ``events.too_many_records``); a ``PutRecords`` call that fails as a whole is a 503 (send
the request again). Partition keys are transaction ids, so a request sent twice stores nothing twice: the
stream's handler and the compliance store are idempotent on ``transactionId``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contracts.config import get_settings
from lambdas.common.aws import client
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer
from lambdas.put_events.records import MAX_RECORDS, BadRequest, Record, partition_key, read_records

__all__ = ["MAX_RECORDS", "BadRequest", "Record", "handler", "partition_key", "put_events", "read_records"]

logger = get_logger("put-events")
tracer = get_tracer("put-events")
AGAIN = "the stream did not take this record now: send it again"


def put_events(records: list[Record], kinesis: Any, stream_name: str) -> dict[str, Any]:
    """Send the records that may go into the stream in one PutRecords call; the answer per record."""
    results: list[dict[str, Any]] = [{} for _ in records]
    sendable = []
    for record in records:
        refused = record.refusal
        if refused is None:
            sendable.append(record)
        else:
            results[record.index] = {"index": record.index, "status": "refused", "rule": refused[0],
                                     "reason": refused[1]}  # fmt: skip
    if sendable:
        entries = [{"Data": r.data, "PartitionKey": partition_key(r.value, r.data)} for r in sendable]
        answer = kinesis.put_records(StreamName=stream_name, Records=entries)
        for record, result in zip(sendable, answer["Records"], strict=True):
            code = result.get("ErrorCode")
            if code:  # the message names the account and shard: only the code leaves
                results[record.index] = {"index": record.index, "status": "failed", "error": code, "reason": AGAIN}
            else:
                results[record.index] = {"index": record.index, "status": "accepted", "shardId": result["ShardId"],
                                         "sequenceNumber": result["SequenceNumber"]}  # fmt: skip
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("accepted", "refused", "failed")}
    return {**counts, "records": results}


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def _bad(field: str, rule: str, sentence: str) -> dict[str, Any]:
    error = "TooManyRecords" if rule == "events.too_many_records" else "InvalidRequest"
    return _answer(400, {"error": error, "message": sentence,
                         "fields": [{"field": field, "rule": rule, "reason": sentence}]})  # fmt: skip


def body_text(event: dict[str, Any]) -> str:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest("$", "body.not_utf8", "the body is UTF-8 text") from None
    return str(raw)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        records = read_records(body_text(event))
    except BadRequest as exc:
        return _bad(exc.field, exc.rule, exc.sentence)
    settings = get_settings()
    try:
        body = put_events(records, client("kinesis", settings), settings.transaction_stream_name)
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
        logger.warning("PutRecords failed", extra={"error_code": code, "records": len(records)})
        return _answer(503, {"error": "ServiceUnavailable", "message": "the stream did not take the records: send "
                                                                        "the request again"})  # fmt: skip
    logger.info("records put", extra={k: body[k] for k in ("accepted", "refused", "failed")})
    return _answer(200, body)
