"""ProcessChunk: the transaction workflow's rules, in bulk, for one chunk of a dropped file.

Same contract validation, catalogue check (the catalogue is read once per chunk)
and PII rule as the per-transaction path. Valid records go to PostgreSQL with
COPY into a temporary staging table and one idempotent merge
(``INSERT ... ON CONFLICT DO NOTHING``; status updates of stored transactions as
their next version, ``versions``); the PII-free copies go to S3 as one NDJSON
object per chunk and ``dt=`` partition, one line per version stored; rejected
records (and messages the lifecycle refuses) go to the dead-letter queue in
batches, each with its reason.

Poison isolation: a record the contract accepted but the database refuses on its data (SQLSTATE class
22 or 23: a CHECK, a value a column type cannot hold) would fail the chunk's one COPY + merge. The
chunk is then loaded again in parts (``lambdas.common.poison.isolate``: halves, then row by row,
each part under a savepoint) so that every other record is stored once and each refused record is
quarantined alone: kept whole under ``rejected/<run>/chunk-<n>-record-<m>.json`` of the raw bucket
and dead-lettered as a pointer with its place and the SQLSTATE, never its content. A transient fault
(connection, shutdown, serialization) is never bisected: it leaves as ``DatabaseUnavailable``, retried.

Ownership makes a retried chunk idempotent: every version this chunk stores carries
``execution_id = batch:<run>:<chunk>`` (``compliance.transaction_versions``). On a
retry, versions already owned by this chunk are "ours" (their analytics lines are
written again, same key, same bytes); a message already stored by anything else is
a duplicate (or a stale older status), nothing written.

Speed (one pass, few objects per record): each line is parsed once (orjson);
``lambdas.common.fast_contract`` accepts the common shape of a valid record with
the contract's own rules (pinned to the contract, compared with it record by
record in tests/unit/test_fast_contract.py) and every other record goes to
``validate_transaction``, which alone words rejections; the COPY line and the
PII-free analytics line are built from the accepted values while the chunk
streams into COPY; the catalogue verdict of a purchase is computed once per chunk.

Modules: ``records`` (the one pass, no I/O), ``store`` (COPY + merge, the isolating load, the S3 copies),
``versions`` (the merge along the lifecycle, what a chunk owns, the undo), ``quarantine`` (records kept whole
under ``rejected/`` and their pointer letters); this one runs a chunk.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import orjson
import psycopg

from contracts import Window
from contracts.acceptance import skew_hours
from contracts.config import get_settings
from contracts.timestamps import utc_iso
from lambdas.common import metrics
from lambdas.common.aws import client
from lambdas.common.db import connection
from lambdas.common.dead_letters import queue_url, send_batch
from lambdas.common.enrich import BulkEnricher, load_fx_or_empty
from lambdas.common.errors import DatabaseRejected, PipelineError, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.poison import Refusal, TooManyRefused, refusal
from lambdas.common.realtime import of_record, withdraw_versions
from lambdas.common.tracing import correlated, get_tracer
from lambdas.process_chunk.quarantine import quarantine_key, quarantine_oversize, quarantine_refused
from lambdas.process_chunk.records import CatalogueCheck, Outcome, as_bytes, chunk_lines, validated_lines
from lambdas.process_chunk.store import (
    MAX_REFUSED_PER_CHUNK,
    Stored,
    apply_realtime,
    settle_first_purchases,
    store_chunk,
    store_isolating,
    write_analytics,
)
from lambdas.process_chunk.versions import lifecycle_letters, undo_versions

logger = get_logger("process-chunk")
tracer = get_tracer("process-chunk")

__all__ = ["MAX_REFUSED_PER_CHUNK", "handler", "load_catalogue", "process", "quarantine_key", "undo_chunk"]


def chunk_ref(run_id: str, index: int) -> str:
    return f"batch:{run_id}:{index}"


def load_catalogue() -> dict[str, dict[str, Any]]:
    table = get_settings().item_catalogue_table
    items: dict[str, dict[str, Any]] = {}
    for page in client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            items[item["item_id"]["S"]] = item
    return items


def process(
    bucket: str, key: str, run_id: str, index: int, received_at: str | None = None, first_record: int | None = None
) -> dict[str, Any]:
    settings = get_settings()
    ingested_at = dt.datetime.fromisoformat(received_at) if received_at else dt.datetime.now(dt.UTC)
    received = ingested = utc_iso(ingested_at)  # as to_analytics_record writes it
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    items = load_catalogue()
    catalogue = CatalogueCheck(items)
    # the Enrich stage (lambdas/common/enrich): the catalogue scanned above, the FX table read once per chunk
    enricher = BulkEnricher(items, load_fx_or_empty(settings), settings.default_application_id)
    ref = chunk_ref(run_id, index)
    out = Outcome()
    # one pass: each record is validated as it streams into COPY (the chunk is never held twice)
    window = Window.at(ingested_at, skew_hours(settings.max_future_skew_hours))
    copy_lines = validated_lines(chunk_lines(body), catalogue, enricher, ref, received, ingested, out, window)
    first = next(copy_lines, None)
    refused: list[tuple[int, str, bytes, Refusal]] = []
    try:
        several = lambda: out.several  # noqa: E731 - read once the COPY has consumed the lines
        chunk = store_chunk(itertools.chain((first,), copy_lines), ref, several) if first is not None else Stored()
    except psycopg.Error as exc:
        if refusal(exc) is None:
            raise  # not about the data: DatabaseUnavailable (retried) or DatabaseRejected, as it was
        # A record the database refuses: the chunk again, its lines numbered, loaded in parts around it.
        out = Outcome()  # the first pass may have stopped part way: it is done again
        numbers: list[int] = []
        lines = list(
            validated_lines(chunk_lines(body), catalogue, enricher, ref, received, ingested, out, window, numbers)
        )
        try:
            chunk, found = store_isolating(list(zip(numbers, lines, strict=True)), ref, out.several)
        except TooManyRefused as many:
            raise DatabaseRejected(f"chunk {index} of run {run_id}: {many}") from None
        where = {n: i for i, n in enumerate(numbers)}
        wanted = {n for n, _ in found}
        raws = {n: as_bytes(raw) for n, raw in enumerate(chunk_lines(body), start=1) if n in wanted}
        # the transaction id is the COPY line's first field (pattern-checked by the contract: no tab in it)
        refused = [(n, lines[where[n]].split("\t", 1)[0], raws[n], why) for n, why in found]
        out.valid -= len(refused)
        del lines
    del body
    out.valid -= len(chunk.refused)
    settle_first_purchases(out, chunk.owned)
    stored, keys = write_analytics(out.days, chunk.owned, run_id, index)
    out.rejected.extend(lifecycle_letters(chunk.refused, received, "ProcessChunk"))
    out.rejected.extend(quarantine_oversize(out.oversize, run_id, index, received, first_record))
    out.rejected.extend(quarantine_refused(refused, run_id, index, received, first_record))
    dead_lettered = send_batch(queue_url(settings.dead_letter_queue_name), out.rejected, f"{run_id}/chunk-{index}")
    apply_realtime(out.days, chunk.owned, ref)
    result = {
        "index": index,
        "records": out.valid + len(out.rejected) + out.in_chunk_duplicates,
        "stored": stored,
        "duplicates": out.valid - stored + out.in_chunk_duplicates,
        "dead_lettered": dead_lettered,
        "failed": 0,
        "analytics_objects": len(keys),
        "quarantined": len(out.oversize) + len(refused),
    }
    metrics.batch_outcome("file", records=result["records"], stored=stored, duplicates=result["duplicates"],
                          quarantined=result["quarantined"], letters=out.rejected)  # fmt: skip
    return result


def undo_chunk(run_id: str, index: int) -> int:
    """Remove what a failed chunk stored (the versions it owns and its analytics objects)."""
    settings = get_settings()
    s3 = client("s3")
    prefix_suffix = f"batch-{run_id}-{index:05d}.ndjson"
    mine = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings.analytics_bucket, Prefix="transactions/") for obj in page.get("Contents", [])
        if obj["Key"].endswith(prefix_suffix)]  # fmt: skip
    # the real-time rollups first: the chunk's groups, made again from its lines, taken back once each (markers)
    lines = [line for key in mine for line in s3.get_object(Bucket=settings.analytics_bucket, Key=key)["Body"].read()
             .splitlines() if line.strip()]  # fmt: skip
    withdraw_versions(chunk_ref(run_id, index), [of_record(orjson.loads(line)) for line in lines])
    for key in mine:
        s3.delete_object(Bucket=settings.analytics_bucket, Key=key)
    try:
        with connection(settings.compliance_writer_secret_id) as conn, conn.transaction():
            return undo_versions(conn, chunk_ref(run_id, index))
    except (PipelineError, psycopg.Error):
        return 0  # the database is the reason the chunk failed: it stored nothing


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    chunk = event["chunk"]
    with metrics.stage("ProcessChunk"):
        return process(
            chunk["bucket"], chunk["key"], event["run_id"], int(chunk["index"]), event.get("received_at"),
            chunk.get("first_record"),
        )  # fmt: skip
