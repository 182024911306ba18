"""Status updates with versions on the bulk entrances (a file chunk, a stream batch): the merge of the staged
messages into the compliance store along the lifecycle (``contracts/lifecycle.py``), what a chunk owns (its
versions), the refusals' dead letters, and the undo of a failed chunk.

The merge, after the chunk's COPY into ``staging`` (one row per message: transaction id + status):

1. Transactions not stored yet are inserted as version 1; when the chunk holds several messages of one new
   transaction, the one of lowest ``RANK`` (``pending`` before ``completed`` before ``refunded``). When every
   staged message was inserted (the common case: all new, one message each) the merge ends there.
2. Otherwise the staged messages of stored transactions whose status differs from the stored one (one join)
   are decided here, under ``SELECT ... FOR UPDATE`` of their rows, in ``RANK`` order: ``APPLY`` = the next
   version (the message's written columns, ``version + 1``, ``previous_status``, ``updated_at``, the chunk's
   ``execution_id``), after ``changed_immutable``; ``DUPLICATE`` / ``STALE`` = nothing written; ``ILLEGAL`` or an
   immutable field changed = refused, dead-lettered alone (``lifecycle.move_not_allowed`` /
   ``lifecycle.immutable_field``, the field named, never a value).

Ownership: the versions the chunk stored are the ``compliance.transaction_versions`` rows whose ``execution_id``
is its ref (written by the database's triggers), so a retried chunk finds exactly what its earlier attempt
stored, with the same version fields (its analytics lines are the same bytes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from contracts import InvalidTransaction
from contracts.compliance import COLUMNS, WRITTEN, compliance_row
from contracts.errors import FieldError
from contracts.lifecycle import (
    IMMUTABLE_FIELD,
    IMMUTABLE_PATHS,
    MOVE_NOT_ALLOWED,
    RANK,
    Verdict,
    changed_immutable,
    decide,
    immutable_refusal_text,
    move_refusal_text,
)
from contracts.timestamps import utc_iso
from contracts.transaction import TransactionStatus
from lambdas.common.dead_letters import dead_letter_message
from lambdas.common.errors import LifecycleMoveRefused
from lambdas.common.logging import get_logger
from lambdas.process_chunk.records import Message, stamp_tail

logger = get_logger("process-chunk")

_RANK_SQL = "case transaction_status " + " ".join(f"when '{s.value}' then {r}" for s, r in RANK.items()) + " end"
#: Every staged message is a new transaction's only one (the chunk holds one message per transaction).
MERGE_ALL = "insert into compliance.transactions select * from staging on conflict (transaction_id) do nothing"
#: Several messages of one transaction staged: the new transaction's first version is its lowest RANK message.
MERGE_FIRST = (
    "insert into compliance.transactions select distinct on (transaction_id) * from staging"
    f" order by transaction_id, {_RANK_SQL} on conflict (transaction_id) do nothing"
)
#: The immutable columns (their wire path in contracts.lifecycle.IMMUTABLE_PATHS), compared as wire values.
IMMUTABLE = tuple((c.name, c.source) for c in COLUMNS if c.source in IMMUTABLE_PATHS)
_IMMUTABLE_SQL = ", ".join(name for name, _ in IMMUTABLE)
CANDIDATES = (
    f"select {', '.join('s.' + c for c in WRITTEN)} from staging s"
    " join compliance.transactions t on t.transaction_id = s.transaction_id"
    " where s.transaction_status <> t.transaction_status"
)
LOCK = (
    f"select transaction_id, transaction_status, version, {_IMMUTABLE_SQL} from compliance.transactions"
    " where transaction_id = any(%s) order by transaction_id for update"
)
_SET = ", ".join(f"{c} = s.{c}" for c in WRITTEN if c != "transaction_id")
#: One version up: the message's written columns (its execution_id is the chunk's ref, from the COPY line).
UPDATE = (
    f"update compliance.transactions t set {_SET}, version = t.version + 1,"
    " previous_status = t.transaction_status, updated_at = now()"
    " from staging s where t.transaction_id = %(id)s and t.version = %(version)s"
    " and s.transaction_id = %(id)s and s.transaction_status = %(status)s"
)
OWNED = (
    "select transaction_id, transaction_status, version, previous_status, recorded_at"
    " from compliance.transaction_versions where execution_id = %s"
)


@dataclass(frozen=True)
class Refused:
    """A message the lifecycle refuses: the transaction as received (the staged ``raw``), the field and rule."""

    transaction_id: str
    transaction: Any
    path: str  # the field: a dotted wire path
    rule: str
    text: str


@dataclass
class Merged:
    """What one merge did beyond inserting: versions applied, messages ignored (duplicate, stale), refused."""

    applied: int = 0
    ignored: int = 0
    refused: list[Refused] = field(default_factory=list)


def _wire(values: dict[str, Any]) -> dict[str, Any]:
    """The immutable columns of a row as the wire record ``changed_immutable`` reads (timestamps as UTC ISO)."""
    wire: dict[str, Any] = {}
    for name, path in IMMUTABLE:
        node = wire
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        value = values[name]
        node[leaf] = utc_iso(value) if hasattr(value, "tzinfo") else value
    return wire


def _rank(status: str) -> tuple[int, str]:
    return RANK[TransactionStatus(status)], status


def merge(conn: psycopg.Connection, staged: int, several: bool) -> Merged:
    """Merge the ``staged`` messages of ``staging`` (``several``: some transaction has more than one)."""
    inserted = conn.execute(MERGE_FIRST if several else MERGE_ALL).rowcount
    if inserted == staged:
        return Merged()  # all new, one message each: nothing to decide
    return apply_updates(conn)


def apply_updates(conn: psycopg.Connection) -> Merged:
    """Decide the staged messages of stored transactions whose status differs from the stored one."""
    cur = conn.cursor(row_factory=dict_row)
    messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in cur.execute(CANDIDATES):
        messages[row["transaction_id"]].append(row)
    merged = Merged()
    if not messages:
        return merged
    steps: list[list[dict[str, Any]]] = []  # round k: the k-th version applied to each transaction
    for stored in cur.execute(LOCK, (sorted(messages),)).fetchall():
        tx_id, status, version = stored["transaction_id"], stored["transaction_status"], stored["version"]
        stored_wire = _wire(stored)
        n = 0
        for msg in sorted(messages[tx_id], key=lambda m: _rank(m["transaction_status"])):
            verdict = decide(status, msg["transaction_status"])
            if verdict in (Verdict.DUPLICATE, Verdict.STALE):
                merged.ignored += 1
                continue
            path = changed_immutable(stored_wire, _wire(msg)) if verdict == Verdict.APPLY else None
            if verdict != Verdict.APPLY or path is not None:
                refused = (
                    Refused(tx_id, msg["raw"], path, IMMUTABLE_FIELD, immutable_refusal_text(path))
                    if path is not None
                    else Refused(tx_id, msg["raw"], "transaction_status", MOVE_NOT_ALLOWED, move_refusal_text())
                )
                merged.refused.append(refused)
                continue
            if n == len(steps):
                steps.append([])
            steps[n].append({"id": tx_id, "status": msg["transaction_status"], "version": version})
            status, version, n = msg["transaction_status"], version + 1, n + 1
    for step in steps:  # one statement per round: a row moves one version per statement
        cur.executemany(UPDATE, step)
        merged.applied += len(step)
    return merged


def owned_versions(conn: psycopg.Connection, ref: str) -> dict[Message, bytes]:
    """The versions this chunk stored (now, or by its earlier attempt): message -> its analytics version fields."""
    times: dict[Any, str] = {}  # one merge stamps its versions with one time (now() of its transaction)
    tails: dict[tuple[int, str | None, str], bytes] = {}
    owned: dict[Message, bytes] = {}
    for tx_id, status, version, previous, recorded_at in conn.execute(OWNED, (ref,)):
        at = times.get(recorded_at)
        if at is None:
            at = times[recorded_at] = utc_iso(recorded_at)
        key = (version, previous, at)
        tail = tails.get(key)
        if tail is None:
            tail = tails[key] = stamp_tail(version, previous, at)
        owned[(tx_id, status)] = tail
    return owned


def lifecycle_letters(refused: list[Refused], received: str, failed_state: str) -> list[dict[str, Any]]:
    """The dead letter of each refused message: ``LifecycleMoveRefused``, as the API path names it, with the field
    and the lifecycle rule (the same reason on every entrance: the DeadLettered metric counts it by that name)."""
    letters = []
    for r in refused:
        fields = InvalidTransaction([FieldError(r.path, r.rule, r.text)], r.transaction_id).fields()
        reason = str(LifecycleMoveRefused(r.path, r.rule, r.text))
        letters.append(dead_letter_message(r.transaction, r.transaction_id, "LifecycleMoveRefused", reason, received,
                                           failed_state, detail={"fields": fields}))  # fmt: skip
    return letters


def undo_versions(conn: psycopg.Connection, ref: str) -> int:
    """Take back the versions a failed chunk stored, newest first, each only while it is its transaction's current
    version (a later writer's version built on it stays): version 1 deletes the row, version n > 1 moves it one
    version down to the previous version's values (the trigger removes the history row). Returns versions undone."""
    undone = 0
    mine = conn.execute(
        "select transaction_id, version from compliance.transaction_versions where execution_id = %s"
        " order by version desc, transaction_id",
        (ref,),
    ).fetchall()
    for tx_id, version in mine:
        current = conn.execute(
            "select version from compliance.transactions where transaction_id = %s for update", (tx_id,)
        ).fetchone()
        if current is None or current[0] != version:
            logger.warning("undo of %s: transaction version %d is no longer the current one, kept", ref, version)
            continue
        if version == 1:
            undone += conn.execute("delete from compliance.transactions where transaction_id = %s", (tx_id,)).rowcount
            continue
        prev = conn.execute(
            "select previous_status, raw, execution_id, recorded_at from compliance.transaction_versions"
            " where transaction_id = %s and version = %s",
            (tx_id, version - 1),
        ).fetchone()
        if prev is None:
            continue
        row = compliance_row(prev[1], prev[2])
        row.pop("transaction_id")
        assignments = ", ".join(f"{c} = %({c})s" for c in row)
        undone += conn.execute(
            f"update compliance.transactions set {assignments}, version = version - 1,"
            " previous_status = %(previous_status_)s, updated_at = %(updated_at_)s where transaction_id = %(id_)s",
            {**row, "previous_status_": prev[0], "updated_at_": prev[3], "id_": tx_id},
        ).rowcount
    return undone
