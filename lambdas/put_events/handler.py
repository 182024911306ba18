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
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contracts import MAX_TRANSACTION_BYTES
from contracts.acceptance import MAX_DEPTH
from contracts.config import get_settings
from lambdas.common.aws import client
from lambdas.common.logging import get_logger

logger = get_logger("put-events")

#: Records per request: one PutRecords call (Kinesis takes at most 500 records and 5 MiB per call).
MAX_RECORDS = 500
#: A partition key is 1 to 256 Unicode characters.
MAX_PARTITION_KEY = 256
_DECODER = json.JSONDecoder()
AGAIN = "the stream did not take this record now: send it again"
_WHITESPACE = " \t\n\r"


class BadRequest(ValueError):
    """The body is not ``{"records": [...]}`` with 1 to 500 records: (field, rule code, sentence)."""

    def __init__(self, field: str, rule: str, sentence: str) -> None:
        super().__init__(sentence)
        self.field, self.rule, self.sentence = field, rule, sentence


@dataclass(frozen=True)
class Record:
    """One element of ``records``: the producer's own bytes and what the stream needs of them."""

    index: int
    data: bytes
    value: Any

    @property
    def refusal(self) -> tuple[str, str] | None:
        """(rule code, sentence) when the record may not go into the stream, else None."""
        if len(self.data) > MAX_TRANSACTION_BYTES:
            return "body.too_large", f"a record is at most {MAX_TRANSACTION_BYTES} bytes"
        if not isinstance(self.value, dict):
            return "json.not_object", "a record is a JSON object"
        return None


def partition_key(value: Any, data: bytes) -> str:
    """The record's ``transactionId`` when it has a usable one (1 to 256 characters): every version of a
    transaction on the same shard, in order. Otherwise a hash of the data (the stream's handler
    dead-letters such a record with its reason)."""
    tx_id = value.get("transactionId") if isinstance(value, dict) else None
    if isinstance(tx_id, str) and 0 < len(tx_id) <= MAX_PARTITION_KEY:
        return tx_id
    return hashlib.sha256(data).hexdigest()


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WHITESPACE:
        i += 1
    return i


def _expect(text: str, i: int, char: str, rule: str = "json.malformed") -> int:
    i = _skip(text, i)
    if i < len(text) and text[i] == char:
        return i + 1
    if i >= len(text) or rule == "json.malformed":
        raise BadRequest("$", "json.malformed", "the body is not one JSON text")
    raise BadRequest("$", rule, "the body is a JSON object whose records is an array of records")


def _value(text: str, i: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, i)
    except json.JSONDecodeError:
        raise BadRequest("$", "json.malformed", "the body is not one JSON text") from None
    except RecursionError:
        raise BadRequest("$", "json.too_deep", f"objects and arrays nest at most {MAX_DEPTH} levels") from None


def _array(text: str, i: int) -> tuple[list[Record], int]:
    """The records of the array that starts at ``text[i]`` (``[``), each its own text; the index past it."""
    if _skip(text, i) >= len(text) or text[_skip(text, i)] != "[":
        raise BadRequest("records", "events.records", "records is an array of records")
    i = _skip(text, i) + 1
    found: list[Record] = []
    if _skip(text, i) < len(text) and text[_skip(text, i)] == "]":
        return found, _skip(text, i) + 1
    while True:
        start = _skip(text, i)
        value, end = _value(text, start)
        if len(found) == MAX_RECORDS:
            raise BadRequest("records", "events.too_many_records", f"at most {MAX_RECORDS} records a request")
        found.append(Record(len(found), text[start:end].encode("utf-8"), value))
        i = _skip(text, end)
        if i < len(text) and text[i] == "]":
            return found, i + 1
        i = _expect(text, i, ",")


def read_records(body: str) -> list[Record]:
    """The records of a request body (``{"records": [...]}``), each as the producer's own text, in order."""
    i = _expect(body, 0, "{", "events.records")
    found: list[Record] | None = None
    if _skip(body, i) < len(body) and body[_skip(body, i)] == "}":
        i = _skip(body, i) + 1
    else:
        while True:
            key, i = _value(body, _skip(body, i))
            if not isinstance(key, str):
                raise BadRequest("$", "json.malformed", "the body is not one JSON text")
            i = _expect(body, i, ":")
            if key != "records":
                _, i = _value(body, _skip(body, i))
            elif found is not None:
                raise BadRequest("records", "json.duplicate_key", "records is named once")
            else:
                found, i = _array(body, i)
            i = _skip(body, i)
            if i < len(body) and body[i] == ",":
                i += 1
                continue
            i = _expect(body, i, "}")
            break
    if _skip(body, i) != len(body):
        raise BadRequest("$", "json.malformed", "the body is one JSON text, nothing after it")
    if found is None:
        raise BadRequest("records", "events.records", "the body is a JSON object whose records is an array")
    if not found:
        raise BadRequest("records", "events.records", f"records holds 1 to {MAX_RECORDS} records, not none")
    return found


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
