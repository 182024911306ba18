"""ProcessChunk: the transaction workflow's rules, in bulk, for one chunk of a dropped file.

Same contract validation, catalogue check (the catalogue is read once per chunk)
and PII rule as the per-transaction path. Valid records go to PostgreSQL with
COPY into a temporary staging table and one idempotent merge
(``INSERT ... ON CONFLICT DO NOTHING``); the PII-free copies go to S3 as one
NDJSON object per chunk and ``dt=`` partition; rejected records go to the
dead-letter queue in batches, each with its reason.

Ownership makes a retried chunk idempotent: every row this chunk inserts carries
``execution_id = batch:<run>:<chunk>``. On a retry, rows already owned by this
chunk are "ours" (their analytics copy is written again, same key); rows owned
by anything else are duplicates (stored earlier by another file or the API).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import orjson
import psycopg

from contracts import InvalidTransaction, Transaction, to_analytics_record, validate_transaction
from lambdas.check_item.handler import check_transaction
from lambdas.common.aws import client
from lambdas.common.db import connection
from lambdas.common.dead_letters import dead_letter_message, queue_url, send_batch
from lambdas.common.errors import PipelineError, StorageUnavailable
from lambdas.common.logging import get_logger
from lambdas.store_compliance.handler import ensure_schema
from orchestration.settings import get_settings

logger = get_logger("process-chunk")

COPY_COLUMNS = (
    "transaction_id", "user_id", "game", "item_id", "item_type", "price_amount", "price_currency",
    "payment_method", "card_last4", "transaction_status", "gateway", "event_at", "server_region",
    "client_ip", "raw", "execution_id",
)  # fmt: skip
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def chunk_ref(run_id: str, index: int) -> str:
    return f"batch:{run_id}:{index}"


def load_catalogue() -> dict[str, dict[str, Any]]:
    table = get_settings().item_catalogue_table
    items: dict[str, dict[str, Any]] = {}
    for page in client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            items[item["item_id"]["S"]] = item
    return items


def _text(value: str) -> str:
    """COPY text-format escaping, for the free-text fields (ids and enums are pattern-checked by the contract)."""
    return value.translate(_ESCAPES) if ("\\" in value or "\t" in value or "\n" in value or "\r" in value) else value


def _copy_line(tx: Transaction, raw: str, ref: str) -> str:
    item = tx.item_purchased
    pay = tx.payment_details
    return "\t".join(
        (
            tx.transaction_id, tx.user_id, _text(tx.game), item.item_id, item.item_type.value,
            str(item.price.amount), item.price.currency, pay.payment_method.value, pay.card_last4 or "\\N",
            pay.transaction_status.value, pay.gateway.value, tx.event_timestamp.isoformat(), tx.server_region.value,
            tx.client_ip, _text(raw), ref,
        )
    )  # fmt: skip


def _store(valid: list[tuple[Transaction, str]], ref: str) -> set[str]:
    """COPY into staging, merge, and return the ids this chunk owns."""
    secret_id = get_settings().compliance_secret_id
    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            conn.execute(
                "create temporary table staging (like compliance.transactions including defaults) on commit drop"
            )
            with conn.cursor().copy(f"copy staging ({', '.join(COPY_COLUMNS)}) from stdin") as copy:
                buf: list[str] = []
                for tx, raw in valid:
                    buf.append(_copy_line(tx, raw, ref))
                    if len(buf) >= 5000:
                        copy.write(("\n".join(buf) + "\n").encode())
                        buf.clear()
                if buf:
                    copy.write(("\n".join(buf) + "\n").encode())
            conn.execute(
                "insert into compliance.transactions select * from staging on conflict (transaction_id) do nothing"
            )
            # what this chunk owns: rows it inserted now and, on a retry, rows its earlier attempt stored
            # (an index lookup on execution_id, migration 002)
            owned = conn.execute(
                "select transaction_id from compliance.transactions where execution_id = %s", (ref,)
            ).fetchall()
    return {r[0] for r in owned}


def _write_analytics(mine: list[Transaction], run_id: str, index: int, ingested_at: dt.datetime) -> list[str]:
    by_day: dict[str, list[bytes]] = defaultdict(list)
    for tx in mine:
        by_day[tx.event_timestamp.date().isoformat()].append(orjson.dumps(to_analytics_record(tx, ingested_at)))
    settings = get_settings()
    s3 = client("s3")
    keys = []
    for day, rows in sorted(by_day.items()):
        key = f"transactions/dt={day}/batch-{run_id}-{index:05d}.ndjson"
        try:
            s3.put_object(
                Bucket=settings.analytics_bucket, Key=key, Body=b"\n".join(rows) + b"\n",
                ContentType="application/x-ndjson", ServerSideEncryption="AES256",
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - any S3 failure is retried by the state machine
            raise StorageUnavailable(f"analytics copy of chunk {index}: {type(exc).__name__} writing {key}") from None
        keys.append(key)
    return keys


def process(bucket: str, key: str, run_id: str, index: int, received_at: str | None = None) -> dict[str, Any]:
    settings = get_settings()
    ingested_at = dt.datetime.fromisoformat(received_at) if received_at else dt.datetime.now(dt.UTC)
    received = ingested_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    catalogue = load_catalogue()
    valid: list[tuple[Transaction, str]] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    in_chunk_duplicates = 0
    for raw in body.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            continue
        try:
            tx = validate_transaction(raw)
            check_transaction(catalogue.get(tx.item_purchased.item_id), tx)
        except InvalidTransaction as exc:
            rejected.append(dead_letter_message(raw, exc.transaction_id, "InvalidTransaction", str(exc), received,
                                                "ProcessChunk"))  # fmt: skip
            continue
        except PipelineError as exc:
            rejected.append(dead_letter_message(orjson.loads(raw), tx.transaction_id, type(exc).__name__, str(exc),
                                                received, "ProcessChunk"))  # fmt: skip
            continue
        if tx.transaction_id in seen:
            in_chunk_duplicates += 1
            continue
        seen.add(tx.transaction_id)
        valid.append((tx, raw))
    ref = chunk_ref(run_id, index)
    owned = _store(valid, ref) if valid else set()
    mine = [tx for tx, _ in valid if tx.transaction_id in owned]
    keys = _write_analytics(mine, run_id, index, ingested_at)
    dead_lettered = send_batch(queue_url(settings.dead_letter_queue_name), rejected)
    return {
        "index": index,
        "records": len(valid) + len(rejected) + in_chunk_duplicates,
        "stored": len(mine),
        "duplicates": len(valid) - len(mine) + in_chunk_duplicates,
        "dead_lettered": dead_lettered,
        "failed": 0,
        "analytics_objects": len(keys),
    }


def undo_chunk(run_id: str, index: int) -> int:
    """Remove what a failed chunk stored (rows it owns and its analytics objects)."""
    settings = get_settings()
    s3 = client("s3")
    prefix_suffix = f"batch-{run_id}-{index:05d}.ndjson"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.analytics_bucket, Prefix="transactions/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(prefix_suffix):
                s3.delete_object(Bucket=settings.analytics_bucket, Key=obj["Key"])
    try:
        with connection(settings.compliance_secret_id) as conn, conn.transaction():
            return conn.execute(
                "delete from compliance.transactions where execution_id = %s", (chunk_ref(run_id, index),)
            ).rowcount
    except (PipelineError, psycopg.Error):
        return 0  # the database is the reason the chunk failed: it stored nothing


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    chunk = event["chunk"]
    return process(chunk["bucket"], chunk["key"], event["run_id"], int(chunk["index"]), event.get("received_at"))
