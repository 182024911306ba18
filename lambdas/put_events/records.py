"""The request of ``POST /events`` read as the producer sent it: each element of ``records`` cut out of the
body as its own bytes (never parsed and written again), what may go into the stream, and its partition key.
Pure: no AWS client, no logger (``mtx stream`` shares :func:`partition_key`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from contracts import MAX_TRANSACTION_BYTES
from contracts.acceptance import MAX_DEPTH

#: Records per request: one PutRecords call (Kinesis takes at most 500 records and 5 MiB per call).
MAX_RECORDS = 500
#: A partition key is 1 to 256 Unicode characters.
MAX_PARTITION_KEY = 256
_DECODER = json.JSONDecoder()
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
