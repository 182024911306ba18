"""ProcessChunk: the transaction workflow's rules, in bulk, for one chunk of a dropped file.

Same contract validation, catalogue check (the catalogue is read once per chunk)
and PII rule as the per-transaction path. Valid records go to PostgreSQL with
COPY into a temporary staging table and one idempotent merge
(``INSERT ... ON CONFLICT DO NOTHING``); the PII-free copies go to S3 as one
NDJSON object per chunk and ``dt=`` partition; rejected records go to the
dead-letter queue in batches, each with its reason.

Poison isolation: a record the contract accepted but the database refuses on its data (SQLSTATE class
22 or 23: a CHECK, a value a column type cannot hold) would fail the chunk's one COPY + merge. The
chunk is then loaded again in parts (``lambdas.common.poison.isolate``: halves, then row by row,
each part under a savepoint) so that every other record is stored once and each refused record is
quarantined alone: kept whole under ``rejected/<run>/chunk-<n>-record-<m>.json`` of the raw bucket
and dead-lettered as a pointer with its place and the SQLSTATE, never its content. A transient fault
(connection, shutdown, serialization) is never bisected: it leaves as ``DatabaseUnavailable``, retried.

Ownership makes a retried chunk idempotent: every row this chunk inserts carries
``execution_id = batch:<run>:<chunk>``. On a retry, rows already owned by this
chunk are "ours" (their analytics copy is written again, same key); rows owned
by anything else are duplicates (stored earlier by another file or the API).

Speed (one pass, few objects per record): each line is parsed once (orjson);
``lambdas.common.fast_contract`` accepts the common shape of a valid record with
the contract's own rules (pinned to the contract, compared with it record by
record in tests/unit/test_fast_contract.py) and every other record goes to
``validate_transaction``, which alone words rejections; the COPY line and the
PII-free analytics line are built from the accepted values while the chunk
streams into COPY; the catalogue verdict of a purchase is computed once per chunk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg

from contracts import MAX_TRANSACTION_BYTES, InvalidTransaction, Window, strip_pii, validate_transaction
from contracts.acceptance import skew_hours
from contracts.config import get_settings
from contracts.timestamps import utc_iso
from lambdas.check_item.handler import check_purchase
from lambdas.common.aws import client
from lambdas.common.db import connection
from lambdas.common.dead_letters import dead_letter_message, queue_url, send_batch
from lambdas.common.errors import DatabaseRejected, PipelineError, StorageUnavailable, stable_errors
from lambdas.common.fast_contract import Accepted, Horizon, accept, from_transaction, wire_in_place
from lambdas.common.logging import get_logger
from lambdas.common.poison import Refusal, TooManyRefused, isolate, refusal
from lambdas.store_compliance.handler import ensure_schema

logger = get_logger("process-chunk")

COPY_COLUMNS = (
    "transaction_id", "user_id", "game", "item_id", "item_type", "price_amount", "price_currency",
    "payment_method", "card_last4", "transaction_status", "gateway", "event_at", "server_region",
    "client_ip", "raw", "execution_id",
)  # fmt: skip
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_BATCH = 2000  # lines per COPY write
#: Records of one chunk the database may refuse on data before the chunk fails as a whole
#: (DatabaseRejected, dead-lettered by DeadLetterChunk): past this many, the database (a schema, a
#: constraint), not the records, is most likely wrong, and each record's own dead letter can be redriven.
MAX_REFUSED_PER_CHUNK = 100
_UNPARSED = object()


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


def chunk_lines(body: bytes) -> Iterator[str | bytes]:
    """The records of a chunk object: one a line (SplitFile writes them so), blank lines skipped.

    Lines end at ``\n`` only, as SplitFile split them: a record may hold U+2028 or U+0085 in a string,
    which ``str.splitlines`` would take for line ends. A line that is not UTF-8 stays bytes: the
    contract refuses it by name (``body.not_utf8``), never reads it with replacement characters."""
    for raw in io.BytesIO(body):
        data = raw.rstrip(b"\n")
        if not data.strip():
            continue
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError:
            yield data


def _copy_line(tx: Accepted, amount: str, raw: str, ref: str) -> str:
    return "\t".join(
        (
            tx.transaction_id, tx.user_id, _text(tx.game), tx.item_id, tx.item_type, amount, tx.currency,
            tx.payment_method, tx.card_last4 or "\\N", tx.transaction_status, tx.gateway, tx.event_isoformat,
            tx.server_region, tx.client_ip, _text(raw), ref,
        )
    )  # fmt: skip


def analytics_line(tx: Accepted, ingested_at: str, data: Any = None) -> bytes:
    """``orjson.dumps(to_analytics_record(tx, ingested_at))``, from the accepted values (the contract's PII rule).

    ``data``: the parsed record ``tx`` was accepted from, reused (and changed) to build it, if given."""
    record = strip_pii(tx.wire() if data is None else wire_in_place(data, tx), in_place=True)
    record["ingested_at"] = ingested_at
    return orjson.dumps(record)


class CatalogueCheck:
    """``check_purchase`` against one catalogue snapshot, each distinct purchase checked once.

    The verdict is a pure function of the catalogue item and (item, game, currency, amount as written),
    so it is kept per chunk: a chunk repeats the same few hundred purchases thousands of times."""

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self._verdicts: dict[tuple[str, str, str, str], tuple[str, str] | None] = {}

    def rejection(self, tx: Accepted, amount: str) -> tuple[str, str] | None:
        """``None`` if the shop sells it so, else (error name, reason)."""
        key = (tx.item_id, tx.game, tx.currency, amount)
        try:
            return self._verdicts[key]
        except KeyError:
            pass
        verdict: tuple[str, str] | None = None
        try:
            check_purchase(self.items.get(tx.item_id), tx.item_id, tx.game, tx.currency, tx.amount)
        except PipelineError as exc:
            verdict = (type(exc).__name__, str(exc))
        self._verdicts[key] = verdict
        return verdict


@dataclass
class _Day:
    """The analytics lines of one ``dt=`` day of a chunk, as the NDJSON body, and their ids in order."""

    ids: list[str] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)

    def add(self, transaction_id: str, line: bytes) -> None:
        self.ids.append(transaction_id)
        self.body += line  # copied: orjson's result holds a 4 KiB buffer whatever its length
        self.body += b"\n"

    def owned_body(self, owned: set[str]) -> tuple[int, bytes]:
        """(lines, NDJSON body) of the records this chunk owns."""
        if all(i in owned for i in self.ids):
            return len(self.ids), bytes(self.body)
        lines = [line for line, i in zip(self.body.split(b"\n"), self.ids, strict=False) if i in owned]
        return len(lines), b"".join(line + b"\n" for line in lines)


@dataclass
class _Outcome:
    days: dict[str, _Day] = field(default_factory=dict)  # dt= day -> the valid records' analytics lines
    valid: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    in_chunk_duplicates: int = 0
    oversize: list[tuple[int, bytes]] = field(default_factory=list)  # (record number in the chunk, the record)

    def keep(self, transaction_id: str, day: str, line: bytes) -> None:
        found = self.days.get(day)
        if found is None:
            found = self.days[day] = _Day()
        found.add(transaction_id, line)
        self.valid += 1


def _validated(lines: Iterable[str | bytes], catalogue: CatalogueCheck, ref: str, received: str, ingested: str,
               out: _Outcome, window: Window, numbers: list[int] | None = None) -> Iterator[str]:  # fmt: skip
    """The COPY line of every valid record, first time its id is seen; rejects and the rest go to ``out``.

    ``numbers``, if given, gets the record number (in the chunk, from 1) of each line yielded."""
    seen: set[str] = set()
    loads = orjson.loads
    horizon = Horizon.of(window)
    for number, raw in enumerate(lines, start=1):
        # bytes, not characters (a UTF-8 character is up to 4 bytes); encoded only when it could be over
        if len(raw) * 4 > MAX_TRANSACTION_BYTES and len(as_bytes(raw)) > MAX_TRANSACTION_BYTES:
            out.oversize.append((number, as_bytes(raw)))  # quarantined alone after the load, never parsed
            continue
        data: Any = _UNPARSED
        if isinstance(raw, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                data = loads(raw)
        tx = accept(data, raw, horizon) if data is not _UNPARSED and isinstance(raw, str) else None
        fast = tx is not None
        if tx is None:  # not the common shape: the contract decides, and words any rejection
            try:
                tx = from_transaction(validate_transaction(raw, window=window))
            except InvalidTransaction as exc:
                shown = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")  # as received, readable
                fields = {"fields": exc.fields()}
                out.rejected.append(dead_letter_message(shown, exc.transaction_id, "InvalidTransaction", str(exc),
                                                        received, "ProcessChunk", detail=fields))  # fmt: skip
                continue
        assert isinstance(raw, str)  # the contract accepted it: it is text
        amount = str(tx.amount)
        rejection = catalogue.rejection(tx, amount)
        if rejection is not None:
            transaction = data if data is not _UNPARSED else loads(raw)
            out.rejected.append(dead_letter_message(transaction, tx.transaction_id, rejection[0], rejection[1],
                                                    received, "ProcessChunk"))  # fmt: skip
            continue
        if tx.transaction_id in seen:
            out.in_chunk_duplicates += 1
            continue
        seen.add(tx.transaction_id)
        out.keep(tx.transaction_id, tx.event_date, analytics_line(tx, ingested, data if fast else None))
        if numbers is not None:
            numbers.append(number)
        yield _copy_line(tx, amount, raw, ref)


def as_bytes(raw: str | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")


_STAGING = "create temporary table staging (like compliance.transactions including defaults) on commit drop"


def _load(conn: psycopg.Connection, copy_lines: Iterable[str]) -> None:
    """COPY the lines into the (empty) staging table and merge them; staging is left empty."""
    with conn.cursor().copy(f"copy staging ({', '.join(COPY_COLUMNS)}) from stdin") as copy:
        buf: list[str] = []
        for line in copy_lines:
            buf.append(line)
            if len(buf) >= COPY_BATCH:
                copy.write(("\n".join(buf) + "\n").encode())
                buf.clear()
        if buf:
            copy.write(("\n".join(buf) + "\n").encode())
    conn.execute("insert into compliance.transactions select * from staging on conflict (transaction_id) do nothing")
    conn.execute("truncate staging")


def _owned(conn: psycopg.Connection, ref: str) -> set[str]:
    """What this chunk owns: rows it inserted now and, on a retry, rows its earlier attempt stored
    (an index lookup on execution_id, migration 002)."""
    rows = conn.execute("select transaction_id from compliance.transactions where execution_id = %s", (ref,))
    return {r[0] for r in rows.fetchall()}


def _store(copy_lines: Iterable[str], ref: str) -> set[str]:
    """COPY into staging, merge, and return the ids this chunk owns. A refusal on data leaves as the driver's
    error (nothing stored: the transaction is rolled back); ``process`` then loads the chunk in parts."""
    secret_id = get_settings().compliance_writer_secret_id
    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            conn.execute(_STAGING)
            _load(conn, copy_lines)
            return _owned(conn, ref)


def _store_isolating(numbered: list[tuple[int, str]], ref: str) -> tuple[set[str], list[tuple[int, Refusal]]]:
    """The chunk's lines in parts, each under a savepoint, so that only the records the database refuses are
    left out: (the ids this chunk owns, each refused record's number in the chunk with why). One transaction:
    the chunk's rows are committed together, as on the one-COPY path."""
    secret_id = get_settings().compliance_writer_secret_id

    def load(part: Sequence[tuple[int, str]]) -> None:
        with conn.transaction():  # a savepoint: a refused part leaves nothing behind
            _load(conn, (line for _, line in part))

    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            conn.execute(_STAGING)
            found = isolate(numbered, load, refusal, max_refused=MAX_REFUSED_PER_CHUNK, known_bad=True)
            owned = _owned(conn, ref)
    logger.info("chunk %s: %d records refused on data, isolated in %d loads", ref, len(found.refused), found.attempts)
    return owned, [(number, why) for (number, _), why in found.refused]


def _write_analytics(days: dict[str, _Day], owned: set[str], run_id: str, index: int) -> tuple[int, list[str]]:
    """One PII-free NDJSON object per ``dt=`` day of the chunk (its owned records), one PUT each."""
    settings = get_settings()
    s3 = client("s3")
    stored = 0
    keys = []
    for day, lines in sorted(days.items()):
        count, body = lines.owned_body(owned)
        if not count:
            continue
        stored += count
        key = f"transactions/dt={day}/batch-{run_id}-{index:05d}.ndjson"
        try:
            s3.put_object(
                Bucket=settings.analytics_bucket, Key=key, Body=body,
                ContentType="application/x-ndjson",  # the bucket's KMS key by default
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - any S3 failure is retried by the state machine
            raise StorageUnavailable(f"analytics copy of chunk {index}: {type(exc).__name__} writing {key}") from None
        keys.append(key)
    return stored, keys


def quarantine_key(run_id: str, index: int, number: int) -> str:
    """Where a quarantined record is kept whole: ``rejected/<run>/chunk-<index>-record-<number>.json`` of the
    raw bucket (its KMS key; the bucket policy lets only the redrive role read ``rejected/``)."""
    return f"rejected/{run_id}/chunk-{index:05d}-record-{number}.json"


def _keep_whole(raw: bytes, run_id: str, index: int, number: int) -> tuple[str, str]:
    bucket = get_settings().raw_bucket
    key = quarantine_key(run_id, index, number)
    client("s3").put_object(Bucket=bucket, Key=key, Body=raw, ContentType="application/json")
    return bucket, key


def _place(number: int, index: int, first_record: int | None) -> tuple[str, dict[str, int]]:
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
        bucket, key = _keep_whole(raw, run_id, index, number)
        place, fields = _place(number, index, first_record)
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
        bucket, key = _keep_whole(raw, run_id, index, number)
        size = len(raw)
        place, where = _place(number, index, first_record)
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


def process(
    bucket: str, key: str, run_id: str, index: int, received_at: str | None = None, first_record: int | None = None
) -> dict[str, Any]:
    settings = get_settings()
    ingested_at = dt.datetime.fromisoformat(received_at) if received_at else dt.datetime.now(dt.UTC)
    received = ingested = utc_iso(ingested_at)  # as to_analytics_record writes it
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    catalogue = CatalogueCheck(load_catalogue())
    ref = chunk_ref(run_id, index)
    out = _Outcome()
    # one pass: each record is validated as it streams into COPY (the chunk is never held twice)
    window = Window.at(ingested_at, skew_hours(settings.max_future_skew_hours))
    copy_lines = _validated(chunk_lines(body), catalogue, ref, received, ingested, out, window)
    first = next(copy_lines, None)
    refused: list[tuple[int, str, bytes, Refusal]] = []
    try:
        owned = _store(itertools.chain((first,), copy_lines), ref) if first is not None else set()
    except psycopg.Error as exc:
        if refusal(exc) is None:
            raise  # not about the data: DatabaseUnavailable (retried) or DatabaseRejected, as it was
        # A record the database refuses: the chunk again, its lines numbered, loaded in parts around it.
        out = _Outcome()  # the first pass may have stopped part way: it is done again
        numbers: list[int] = []
        lines = list(_validated(chunk_lines(body), catalogue, ref, received, ingested, out, window, numbers))
        try:
            owned, found = _store_isolating(list(zip(numbers, lines, strict=True)), ref)
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
    stored, keys = _write_analytics(out.days, owned, run_id, index)
    out.rejected.extend(quarantine_oversize(out.oversize, run_id, index, received, first_record))
    out.rejected.extend(quarantine_refused(refused, run_id, index, received, first_record))
    dead_lettered = send_batch(queue_url(settings.dead_letter_queue_name), out.rejected, f"{run_id}/chunk-{index}")
    return {
        "index": index,
        "records": out.valid + len(out.rejected) + out.in_chunk_duplicates,
        "stored": stored,
        "duplicates": out.valid - stored + out.in_chunk_duplicates,
        "dead_lettered": dead_lettered,
        "failed": 0,
        "analytics_objects": len(keys),
        "quarantined": len(out.oversize) + len(refused),
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
        with connection(settings.compliance_writer_secret_id) as conn, conn.transaction():
            return conn.execute(
                "delete from compliance.transactions where execution_id = %s", (chunk_ref(run_id, index),)
            ).rowcount
    except (PipelineError, psycopg.Error):
        return 0  # the database is the reason the chunk failed: it stored nothing


@logger.inject_lambda_context(log_event=False)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    chunk = event["chunk"]
    return process(
        chunk["bucket"], chunk["key"], event["run_id"], int(chunk["index"]), event.get("received_at"),
        chunk.get("first_record"),
    )  # fmt: skip
