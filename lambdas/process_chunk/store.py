"""ProcessChunk's writes: the chunk's valid records into the compliance store (COPY into a staging table and
one idempotent merge along the lifecycle, ``versions``; in parts around the records the database refuses) and
their PII-free copies to S3, one line per version the chunk stored."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import orjson
import psycopg

from contracts.compliance import WRITTEN
from contracts.config import get_settings
from contracts.lifecycle import RANK
from contracts.transaction import TransactionStatus
from lambdas.common.aws import client
from lambdas.common.db import connection
from lambdas.common.enrich.players import first_purchases
from lambdas.common.errors import StorageUnavailable
from lambdas.common.logging import get_logger
from lambdas.common.poison import Refusal, isolate, refusal
from lambdas.common.realtime import AppliedVersion, apply_versions
from lambdas.process_chunk.records import Day, Message, Outcome
from lambdas.process_chunk.versions import Refused, merge, owned_versions
from lambdas.store_compliance.handler import ensure_schema

logger = get_logger("process-chunk")

#: The COPY's columns: those the writers set, from the contract's compliance row (contracts/compliance.py).
COPY_COLUMNS = WRITTEN
COPY_BATCH = 2000  # lines per COPY write
#: Records of one chunk the database may refuse on data before the chunk fails as a whole
#: (DatabaseRejected, dead-lettered by DeadLetterChunk): past this many, the database (a schema, a
#: constraint), not the records, is most likely wrong, and each record's own dead letter can be redriven.
MAX_REFUSED_PER_CHUNK = 100


_STATUS_AT = COPY_COLUMNS.index("transaction_status")
STAGING = "create temporary table staging (like compliance.transactions including defaults) on commit drop"


@dataclass
class Stored:
    """What a chunk stored: its versions (message -> the analytics line's version fields), now or by its earlier
    attempt, and the messages the lifecycle refused (dead-lettered alone)."""

    owned: dict[Message, bytes] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)


def copy_and_merge(
    conn: psycopg.Connection, copy_lines: Iterable[str], several: Callable[[], bool], *, empty_after: bool = True
) -> list[Refused]:
    """COPY the lines into the (empty) staging table and merge them along the lifecycle (``versions.merge``;
    ``several()``, asked once the lines are read: some transaction has more than one message among them); staging
    is left empty unless ``empty_after`` is false (the last load of the transaction: the table is dropped at
    commit). Returns the messages the lifecycle refused."""
    staged = 0
    with conn.cursor().copy(f"copy staging ({', '.join(COPY_COLUMNS)}) from stdin") as copy:
        buf: list[str] = []
        for line in copy_lines:
            buf.append(line)
            if len(buf) >= COPY_BATCH:
                copy.write(("\n".join(buf) + "\n").encode())
                staged += len(buf)
                buf.clear()
        if buf:
            copy.write(("\n".join(buf) + "\n").encode())
            staged += len(buf)
    merged = merge(conn, staged, several())
    if merged.applied or merged.ignored or merged.refused:
        logger.info("merge: %d versions applied, %d duplicate or stale, %d refused by the lifecycle",
                    merged.applied, merged.ignored, len(merged.refused))  # fmt: skip
    if empty_after:
        conn.execute("truncate staging")
    return merged.refused


def store_chunk(copy_lines: Iterable[str], ref: str, several: Callable[[], bool]) -> Stored:
    """COPY into staging, merge, and return what this chunk owns and what the lifecycle refused. A refusal on
    data leaves as the driver's error (nothing stored: the transaction is rolled back); ``process`` then loads
    the chunk in parts."""
    secret_id = get_settings().compliance_writer_secret_id
    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            conn.execute(STAGING)
            refused = copy_and_merge(conn, copy_lines, several, empty_after=False)
            return Stored(owned_versions(conn, ref), refused)


def _status_rank(line: str) -> int:
    """The lifecycle rank of a COPY line's status (its column in ``COPY_COLUMNS``)."""
    return RANK[TransactionStatus(line.split("\t", _STATUS_AT + 1)[_STATUS_AT])]


def store_isolating(
    numbered: list[tuple[int, str]], ref: str, several: bool
) -> tuple[Stored, list[tuple[int, Refusal]]]:
    """The chunk's lines in parts, each under a savepoint, so that only the records the database refuses are
    left out: (what this chunk owns and the lifecycle refused, each refused record's number in the chunk with
    why). One transaction: the chunk's rows are committed together, as on the one-COPY path. With several
    messages of one transaction, the lines go in lifecycle order (a part never holds a later status than the
    next part's), so the parts apply them as one load would."""
    secret_id = get_settings().compliance_writer_secret_id
    if several:
        numbered = sorted(numbered, key=lambda item: _status_rank(item[1]))
    refused: list[Refused] = []

    def load_part(part: Sequence[tuple[int, str]]) -> None:
        with conn.transaction():  # a savepoint: a refused part leaves nothing behind
            found = copy_and_merge(conn, (line for _, line in part), lambda: several)
        refused.extend(found)  # only once the part is in

    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            conn.execute(STAGING)
            found = isolate(numbered, load_part, refusal, max_refused=MAX_REFUSED_PER_CHUNK, known_bad=True)
            owned = owned_versions(conn, ref)
    logger.info("chunk %s: %d records refused on data, isolated in %d loads", ref, len(found.refused), found.attempts)
    return Stored(owned, refused), [(number, why) for (number, _), why in found.refused]


def settle_first_purchases(out: Outcome, owned: dict[Message, bytes]) -> None:
    """``is_first_purchase`` of every analytics line the batch owns, from the players table (one BatchGetItem per
    100 players, a BatchExecuteStatement of conditional INSERTs per 25 new ones, 8 calls at a time): idempotent on
    the transaction id, so a retried batch, and every version of one transaction, says the same."""
    first = first_purchases(get_settings().players_table, out.owned_players(owned))
    for day in out.days.values():
        day.settle_first_purchases(first)


def write_analytics(
    days: dict[str, Day], owned: dict[Message, bytes], run_id: str, index: int
) -> tuple[int, list[str]]:
    """One PII-free NDJSON object per ``dt=`` day of the chunk (a line per version it owns), one PUT each."""
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


def owned_revenue(days: dict[str, Day], owned: dict[Message, bytes]) -> list[AppliedVersion]:
    """What each version this chunk / batch owns adds to the real-time aggregates: the values its analytics line
    carries (each line's rollup fact and its version stamp: the same on every retry, so a retried batch sends the
    same versions and its groups' markers hold; and the same as ``of_record`` reads back from the written lines,
    which the undo of a chunk withdraws: tests/unit/test_process_chunk_rules.py)."""
    stamps: dict[bytes, tuple[int, str | None]] = {}  # a batch's versions share a few stamps
    versions = []
    for day in days.values():
        for (transaction_id, status), (game, item_id, event_at, amount) in zip(day.keys, day.facts, strict=True):
            tail = owned.get((transaction_id, status))
            if tail is None:
                continue
            stamp = stamps.get(tail)
            if stamp is None:
                fields = orjson.loads(b"{" + tail[1:])  # ',"version":..,"previous_status":..,...}'
                stamp = stamps[tail] = (int(fields["version"]), fields["previous_status"])
            usd = Decimal(str(amount)) if amount is not None else None
            versions.append(AppliedVersion(transaction_id, stamp[0], stamp[1], status, game, item_id, event_at, usd))
    return versions


def apply_realtime(days: dict[str, Day], owned: dict[Message, bytes], ref: str) -> int:
    """The real-time aggregates of the versions this chunk / batch owns, exactly once per ref (its last write:
    after the dead letters are sent, so nothing that undoes a chunk runs after its aggregates were added)."""
    return apply_versions(ref, owned_revenue(days, owned))
