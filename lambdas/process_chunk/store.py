"""ProcessChunk's writes: the chunk's valid records into the compliance store (COPY into a staging table and
one idempotent merge; in parts around the records the database refuses) and their PII-free copies to S3."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg

from contracts.compliance import WRITTEN
from contracts.config import get_settings
from lambdas.common.aws import client
from lambdas.common.db import connection
from lambdas.common.enrich.players import first_purchases
from lambdas.common.errors import StorageUnavailable
from lambdas.common.logging import get_logger
from lambdas.common.poison import Refusal, isolate, refusal
from lambdas.process_chunk.records import Day, Outcome
from lambdas.store_compliance.handler import ensure_schema

logger = get_logger("process-chunk")

#: The COPY's columns: those the writers set, from the contract's compliance row (contracts/compliance.py).
COPY_COLUMNS = WRITTEN
COPY_BATCH = 2000  # lines per COPY write
#: Records of one chunk the database may refuse on data before the chunk fails as a whole
#: (DatabaseRejected, dead-lettered by DeadLetterChunk): past this many, the database (a schema, a
#: constraint), not the records, is most likely wrong, and each record's own dead letter can be redriven.
MAX_REFUSED_PER_CHUNK = 100


STAGING = "create temporary table staging (like compliance.transactions including defaults) on commit drop"


def copy_and_merge(conn: psycopg.Connection, copy_lines: Iterable[str], *, empty_after: bool = True) -> None:
    """COPY the lines into the (empty) staging table and merge them; staging is left empty unless
    ``empty_after`` is false (the last load of the transaction: the table is dropped at commit)."""
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
    if empty_after:
        conn.execute("truncate staging")


def owned_by(conn: psycopg.Connection, ref: str) -> set[str]:
    """What this chunk owns: rows it inserted now and, on a retry, rows its earlier attempt stored
    (an index lookup on execution_id, migration 002)."""
    rows = conn.execute("select transaction_id from compliance.transactions where execution_id = %s", (ref,))
    return {r[0] for r in rows.fetchall()}


def store_chunk(copy_lines: Iterable[str], ref: str) -> set[str]:
    """COPY into staging, merge, and return the ids this chunk owns. A refusal on data leaves as the driver's
    error (nothing stored: the transaction is rolled back); ``process`` then loads the chunk in parts."""
    secret_id = get_settings().compliance_writer_secret_id
    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            conn.execute(STAGING)
            copy_and_merge(conn, copy_lines, empty_after=False)
            return owned_by(conn, ref)


def store_isolating(numbered: list[tuple[int, str]], ref: str) -> tuple[set[str], list[tuple[int, Refusal]]]:
    """The chunk's lines in parts, each under a savepoint, so that only the records the database refuses are
    left out: (the ids this chunk owns, each refused record's number in the chunk with why). One transaction:
    the chunk's rows are committed together, as on the one-COPY path."""
    secret_id = get_settings().compliance_writer_secret_id

    def load_part(part: Sequence[tuple[int, str]]) -> None:
        with conn.transaction():  # a savepoint: a refused part leaves nothing behind
            copy_and_merge(conn, (line for _, line in part))

    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            conn.execute(STAGING)
            found = isolate(numbered, load_part, refusal, max_refused=MAX_REFUSED_PER_CHUNK, known_bad=True)
            owned = owned_by(conn, ref)
    logger.info("chunk %s: %d records refused on data, isolated in %d loads", ref, len(found.refused), found.attempts)
    return owned, [(number, why) for (number, _), why in found.refused]


def settle_first_purchases(out: Outcome, owned: set[str]) -> None:
    """``is_first_purchase`` of every analytics line the batch owns, from the players table (one BatchGetItem per
    100 players, a conditional put per new one, 8 at a time): idempotent on the transaction id, so a retried
    batch says the same."""
    first = first_purchases(get_settings().players_table, out.owned_players(owned))
    for day in out.days.values():
        day.settle_first_purchases(first)


def write_analytics(days: dict[str, Day], owned: set[str], run_id: str, index: int) -> tuple[int, list[str]]:
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
