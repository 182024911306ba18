"""IngestStream: one batch of a Kinesis shard (a Lambda event source mapping), stored in bulk.

The batch path's bulk code (``lambdas/process_chunk/handler.py``), reused as it is: each record is
validated against the contract and the catalogue (``CatalogueCheck``, the catalogue cached per warm
container for ``CATALOGUE_TTL_SECONDS``), the valid ones go to the compliance store with one COPY into a
staging table and one idempotent merge, their PII-free copies to the analytics bucket as one object per
batch and ``dt=`` day, the invalid ones to the dead-letter queue, each with its reason, in batches. A record
the database refuses on its data is isolated and quarantined alone as on the file path.

Ownership: every version this batch stores carries ``execution_id = stream:<shardId>:<sequence number of the
batch's first record>``. The event source mapping retries a batch from its checkpoint, so a retried batch
starts with the same record and owns the versions its earlier attempt stored (its analytics objects are
written again under the same keys, the same bytes); a message stored by anything else (another batch, a file,
the API) is a duplicate. Several statuses of one transaction (in one batch or across batches) are its versions,
merged along the lifecycle as on the file path (``lambdas/process_chunk/versions.py``).
The batch's receipt time is its first record's arrival time, so a retry validates against the same window
and writes the same bytes.

Failures (``ReportBatchItemFailures``): the phases settle the whole batch at once (one COPY, one object per
day, the letters), never record by record, so a transient fault (database, S3, SQS) reports every record of
the batch: the mapping retries from the first record, the same owner. A record is never reported after the
batch settled (an empty list). The handler does not raise on a transient fault: a function error would make
the mapping bisect the batch, and a half that starts with another record would not own the rows an attempt
that committed had stored. It raises only on what is not transient (``DatabaseRejected`` past
``MAX_REFUSED_PER_CHUNK`` refusals, a bug), where bisecting narrows the batch down.

Powertools' batch utilities (``BatchProcessor``) call a handler per record and build the failure list from
per-record outcomes: they do not fit one COPY per batch, so the loop here is plain.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from contracts import Window
from contracts.acceptance import skew_hours
from contracts.config import get_settings
from contracts.timestamps import utc_iso
from lambdas.common import metrics
from lambdas.common.dead_letters import queue_url, send_batch
from lambdas.common.enrich import BulkEnricher, load_fx_or_empty
from lambdas.common.errors import DatabaseRejected, stable_errors, transient_service_error
from lambdas.common.logging import get_logger
from lambdas.common.poison import Refusal, TooManyRefused, refusal
from lambdas.common.tracing import correlated, get_tracer
from lambdas.process_chunk.handler import load_catalogue
from lambdas.process_chunk.quarantine import quarantine_oversize, quarantine_refused
from lambdas.process_chunk.records import CatalogueCheck, Outcome, as_bytes, validated_lines
from lambdas.process_chunk.store import (
    Stored,
    apply_realtime,
    settle_first_purchases,
    store_chunk,
    store_isolating,
    write_analytics,
)
from lambdas.process_chunk.versions import lifecycle_letters

logger = get_logger("ingest-stream")
tracer = get_tracer("ingest-stream")

#: Seconds a warm container keeps the catalogue (and its verdicts) before reading it again.
CATALOGUE_TTL_SECONDS = 60.0
FAILED_STATE = "IngestStream"

_catalogue_lock = threading.Lock()
_catalogue: tuple[float, CatalogueCheck, BulkEnricher] | None = None


def catalogue_check() -> tuple[CatalogueCheck, BulkEnricher]:
    """The catalogue check and the Enrich stage (catalogue + FX table) of this container, read again once they
    are ``CATALOGUE_TTL_SECONDS`` old."""
    global _catalogue
    with _catalogue_lock:
        if _catalogue is None or time.monotonic() - _catalogue[0] >= CATALOGUE_TTL_SECONDS:
            settings = get_settings()
            items = load_catalogue()
            enricher = BulkEnricher(items, load_fx_or_empty(settings), settings.default_application_id)
            _catalogue = (time.monotonic(), CatalogueCheck(items), enricher)
        return _catalogue[1], _catalogue[2]


def forget_catalogue() -> None:
    """Drop the cached catalogue (a new container)."""
    global _catalogue
    with _catalogue_lock:
        _catalogue = None


def batch_ref(shard_id: str, first_sequence_number: str) -> str:
    """The owner of the rows a batch stores: its shard and its first record's sequence number."""
    return f"stream:{shard_id}:{first_sequence_number}"


def batch_name(shard_id: str, first_sequence_number: str) -> str:
    """The batch's name in object keys (analytics ``batch-stream-...``, quarantine ``rejected/stream-.../``)."""
    return f"stream-{shard_id}-{first_sequence_number}"


@dataclass
class StreamBatch:
    """The records of one event source mapping invocation (one shard, in sequence order)."""

    shard_id: str
    sequence_numbers: list[str]
    records: list[str | bytes]  # each record's data, decoded (text, or bytes when it is not UTF-8)
    arrived_at: dt.datetime  # the first record's approximate arrival

    @classmethod
    def of(cls, event: dict[str, Any]) -> StreamBatch:
        records = event.get("Records") or []
        if not records:
            return cls("", [], [], dt.datetime.now(dt.UTC))
        shard_id = str(records[0]["eventID"]).split(":", 1)[0]
        sequence_numbers = [str(r["kinesis"]["sequenceNumber"]) for r in records]
        arrival = records[0]["kinesis"].get("approximateArrivalTimestamp")
        arrived_at = dt.datetime.fromtimestamp(float(arrival), dt.UTC) if arrival else dt.datetime.now(dt.UTC)
        return cls(shard_id, sequence_numbers, [_decode(r["kinesis"].get("data", "")) for r in records], arrived_at)

    @property
    def ref(self) -> str:
        return batch_ref(self.shard_id, self.sequence_numbers[0])

    @property
    def name(self) -> str:
        return batch_name(self.shard_id, self.sequence_numbers[0])


def _decode(data: str) -> str | bytes:
    """A record's data: base64 (as Lambda hands it over) to text; bytes when it is not UTF-8 (the contract
    refuses it by name, ``body.not_utf8``); a trailing line end (an NDJSON line sent as is) is dropped."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return b"\xff"  # not base64: never the case from Kinesis; refused as not UTF-8, never read
    raw = raw.rstrip(b"\r\n")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


@dataclass
class Settled:
    """What one invocation did with its batch."""

    records: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    quarantined: int = 0
    analytics_objects: int = 0
    failures: list[str] = field(default_factory=list)  # sequence numbers reported as failed
    error: str | None = None  # the transient error's class when the batch is to be retried

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failures]}


def ingest(batch: StreamBatch) -> Settled:
    """Settle the batch: stored, duplicate or dead-lettered, each record; on a transient fault, every record
    reported as failed (nothing is lost: what an attempt stored, its retry owns)."""
    if not batch.records:
        return Settled()
    progress = _Progress()
    try:
        return _settle(batch, progress)
    except Exception as exc:
        mapped = transient_service_error(exc)
        if mapped is None and not progress.committed:
            raise  # not transient, nothing stored: a function error, the mapping bisects the batch
        # transient, or after the rows were committed (a bisected half would not own them): the whole batch again
        error = type(mapped if mapped is not None else exc).__name__
        logger.warning("batch %s: %s; every record reported for a retry", batch.ref, error)
        return Settled(records=len(batch.records), failures=list(batch.sequence_numbers), error=error)


@dataclass
class _Progress:
    committed: bool = False  # the batch's rows are in the compliance store


def _settle(batch: StreamBatch, progress: _Progress) -> Settled:
    settings = get_settings()
    received = ingested = utc_iso(batch.arrived_at)
    window = Window.at(batch.arrived_at, skew_hours(settings.max_future_skew_hours))
    catalogue, enricher = catalogue_check()
    ref, name = batch.ref, batch.name
    out = Outcome()
    copy_lines = validated_lines(batch.records, catalogue, enricher, ref, received, ingested, out, window)
    first = next(copy_lines, None)
    refused: list[tuple[int, str, bytes, Refusal]] = []
    try:
        several = lambda: out.several  # noqa: E731 - read once the COPY has consumed the lines
        chunk = store_chunk(itertools.chain((first,), copy_lines), ref, several) if first is not None else Stored()
    except psycopg.Error as exc:
        if refusal(exc) is None:
            raise  # transient (retried) or refused for good, as on the file path
        out, chunk, refused = _settle_isolating(batch, catalogue, enricher, received, window)
    progress.committed = True
    out.valid -= len(chunk.refused)
    settle_first_purchases(out, chunk.owned)
    stored, keys = write_analytics(out.days, chunk.owned, name, 0)
    letters = out.rejected
    letters.extend(lifecycle_letters(chunk.refused, received, FAILED_STATE))
    letters.extend(quarantine_oversize(out.oversize, name, 0, received))
    letters.extend(quarantine_refused(refused, name, 0, received))
    for letter in letters:
        letter["failed_state"] = FAILED_STATE
    dead_lettered = send_batch(queue_url(settings.dead_letter_queue_name), letters, ref)
    apply_realtime(out.days, chunk.owned, ref)
    settled = Settled(
        records=len(batch.records), stored=stored, duplicates=out.valid - stored + out.in_chunk_duplicates,
        dead_lettered=dead_lettered, quarantined=len(out.oversize) + len(refused), analytics_objects=len(keys),
    )  # fmt: skip
    metrics.batch_outcome("stream", records=settled.records, stored=settled.stored, duplicates=settled.duplicates,
                          quarantined=settled.quarantined, letters=letters)  # fmt: skip
    logger.info("batch %s: %d records, %d stored, %d duplicates, %d dead-lettered", ref, settled.records,
                settled.stored, settled.duplicates, settled.dead_lettered)  # fmt: skip
    return settled


def _settle_isolating(
    batch: StreamBatch, catalogue: CatalogueCheck, enricher: BulkEnricher, received: str, window: Window
) -> tuple[Outcome, Stored, list[tuple[int, str, bytes, Refusal]]]:
    """The batch again, loaded in parts around the records the database refuses on their data."""
    out = Outcome()
    numbers: list[int] = []
    lines = list(
        validated_lines(batch.records, catalogue, enricher, batch.ref, received, received, out, window, numbers)
    )
    try:
        chunk, found = store_isolating(list(zip(numbers, lines, strict=True)), batch.ref, out.several)
    except TooManyRefused as many:
        raise DatabaseRejected(f"batch {batch.ref}: {many}") from None
    where = {n: i for i, n in enumerate(numbers)}
    # the transaction id is the COPY line's first field (pattern-checked by the contract: no tab in it)
    refused = [(n, lines[where[n]].split("\t", 1)[0], as_bytes(batch.records[n - 1]), why) for n, why in found]
    out.valid -= len(refused)
    return out, chunk, refused


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with metrics.stage("IngestStream"):
        return ingest(StreamBatch.of(event)).response()
