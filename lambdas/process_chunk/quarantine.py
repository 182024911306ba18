"""ProcessChunk's quarantine: a record too large to read, or refused by the database on its data, kept whole under
``rejected/`` of the raw bucket, and its dead letter: a pointer with its place and the rule, never its content."""

from __future__ import annotations

from typing import Any

from contracts import MAX_TRANSACTION_BYTES
from contracts.config import get_settings
from lambdas.common.aws import client
from lambdas.common.dead_letters import dead_letter_message
from lambdas.common.poison import Refusal


def quarantine_key(run_id: str, index: int, number: int) -> str:
    """Where a quarantined record is kept whole: ``rejected/<run>/chunk-<index>-record-<number>.json`` of the
    raw bucket (its KMS key; the bucket policy lets only the redrive role read ``rejected/``)."""
    return f"rejected/{run_id}/chunk-{index:05d}-record-{number}.json"


def keep_whole(raw: bytes, run_id: str, index: int, number: int) -> tuple[str, str]:
    bucket = get_settings().raw_bucket
    key = quarantine_key(run_id, index, number)
    client("s3").put_object(Bucket=bucket, Key=key, Body=raw, ContentType="application/json")
    return bucket, key


def record_place(number: int, index: int, first_record: int | None) -> tuple[str, dict[str, int]]:
    """A record's place in words and as pointer fields: its number in the chunk (the chunk object's line) and,
    when SplitFile said where the chunk starts, in the file (blank lines not counted)."""
    if first_record is None:
        return f"record {number} of chunk {index}", {"chunk": index, "record": number}
    in_file = first_record + number - 1
    return (
        f"record {number} of chunk {index} (record {in_file} of the file)",
        {"chunk": index, "record": number, "file_record": in_file},
    )


def quarantine_refused(
    refused: list[tuple[int, str, bytes, Refusal]], run_id: str, index: int, received: str,
    first_record: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Each record the database refused on its data (number in the chunk, transaction id, the record, why),
    kept whole under rejected/ as an oversize record is, and its dead letter (``DatabaseRejected``): where
    it is, its place and the SQLSTATE (and constraint, column), never its content nor the server's message."""
    letters = []
    for number, transaction_id, raw, why in refused:
        bucket, key = keep_whole(raw, run_id, index, number)
        place, fields = record_place(number, index, first_record)
        reason = f"{place}: the compliance store refused it: {why.describe()}; kept whole at s3://{bucket}/{key}"
        pointer = {"quarantined_at": f"s3://{bucket}/{key}", "bytes": len(raw), **fields}
        detail = {"sqlstate": why.sqlstate, "constraint": why.constraint, "column": why.column}
        letters.append(dead_letter_message(pointer, transaction_id, "DatabaseRejected", reason, received,
                                           "ProcessChunk", detail=detail))  # fmt: skip
    return letters


def quarantine_oversize(
    oversize: list[tuple[int, bytes]], run_id: str, index: int, received: str, first_record: int | None = None
) -> list[dict[str, Any]]:
    """Each record over MAX_TRANSACTION_BYTES, kept whole in the raw bucket (rejected/, the bucket's KMS key),
    and its dead letter: where it is, its place in the chunk and the rule, never its content (it may be
    any size and hold anything; a dead letter must stay under SQS's 256 KB)."""
    letters = []
    for number, raw in oversize:
        bucket, key = keep_whole(raw, run_id, index, number)
        size = len(raw)
        place, where = record_place(number, index, first_record)
        reason = (
            f"{place}: {size} bytes, over the {MAX_TRANSACTION_BYTES} bytes of one"
            f" transaction; kept whole at s3://{bucket}/{key}"
        )
        pointer = {"quarantined_at": f"s3://{bucket}/{key}", "bytes": size, **where}
        fields = [
            {
                "field": "$",
                "rule": "body.too_large",
                "reason": f"a transaction is at most {MAX_TRANSACTION_BYTES} bytes",
            }
        ]
        letters.append(dead_letter_message(pointer, None, "InvalidTransaction", reason + " [body.too_large]", received,
                                           "ProcessChunk", detail={"fields": fields}))  # fmt: skip
    return letters
