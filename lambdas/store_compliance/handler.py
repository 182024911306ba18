"""StoreComplianceRecord: the full record (with payment details) into PostgreSQL (RDS), one version per message.

The row is the contract's (``contracts/compliance.py``), made from the transaction ValidateTransaction
output, which is trusted as it is (not validated again). A message is applied as ``contracts.lifecycle``
decides, under ``SELECT ... FOR UPDATE`` of the current row, in one database transaction:

- nothing stored: inserted as version 1;
- an allowed move: the row becomes the next version (every written column from this message, version + 1,
  previous_status, updated_at, execution_id = this execution); the database's triggers keep the history in
  ``compliance.transaction_versions``; a change of a field a later version may not change is refused;
- this status is stored already as a version: by this or another API execution (this message's own retry or
  redrive): that version is returned, the workflow carries on; by a bulk entrance: ``AlreadyStored``;
- an older status arriving after a newer one: ``StaleVersion`` (harmless, nothing written);
- a move the lifecycle does not allow: ``LifecycleMoveRefused`` (dead-lettered, the rule and field named).

Parameterised SQL only; credentials come from Secrets Manager through get_secret().
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from contracts.compliance import SCHEMA, TABLE, VERSIONS_TABLE, WRITTEN, compliance_row
from contracts.config import get_settings
from contracts.lifecycle import (
    IMMUTABLE_FIELD,
    MOVE_NOT_ALLOWED,
    Verdict,
    changed_immutable,
    decide,
    immutable_refusal_text,
    move_refusal_text,
)
from contracts.timestamps import utc_iso
from lambdas.common import metrics
from lambdas.common.db import connection
from lambdas.common.errors import (
    AlreadyStored,
    DatabaseUnavailable,
    LifecycleMoveRefused,
    StaleVersion,
    stable_errors,
)
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer
from lambdas.store_compliance.migrate import check_schema

logger = get_logger("store-compliance")
tracer = get_tracer("store-compliance")
#: owners of rows stored by the bulk entrances (a file run ``batch:<run>:<chunk>``, a stream batch
#: ``stream:...``): a version stored there is AlreadyStored for the API path, not its own retry
BULK_OWNER_PREFIXES = ("batch:", "stream:")
_schema_checked = threading.Event()

_STORED = "version, previous_status, updated_at"
#: The writer's INSERT, its columns and parameters generated from the contract's compliance row
#: (contracts/compliance.py); identifiers are the declaration's constants, values are parameters.
INSERT_SQL = (
    f"insert into {SCHEMA}.{TABLE} ({', '.join(WRITTEN)})\n"
    f"values ({', '.join(f'%({name})s' for name in WRITTEN)})\n"
    f"on conflict (transaction_id) do nothing\nreturning {_STORED}"
)
#: The next version: every written column from the message; previous_status is the row's old status (the
#: right-hand side of SET reads the row as it was).
UPDATE_SQL = (
    f"update {SCHEMA}.{TABLE} set "
    + ", ".join(f"{name} = %({name})s" for name in WRITTEN if name != "transaction_id")
    + ", version = version + 1, previous_status = transaction_status, updated_at = now()\n"
    f"where transaction_id = %(transaction_id)s\nreturning {_STORED}"
)
CURRENT_SQL = f"select transaction_status, version, raw from {SCHEMA}.{TABLE} where transaction_id = %s for update"
VERSION_OF_STATUS_SQL = (
    f"select version, previous_status, recorded_at, execution_id from {SCHEMA}.{VERSIONS_TABLE}"
    " where transaction_id = %s and transaction_status = %s"
)


def ensure_schema(conn: psycopg.Connection) -> None:
    """Once per process (a cold start): the schema is at the version this code needs, else
    SchemaNotMigrated. The writer runs no DDL: migrations run at deploy time (lambdas/migrate_databases)."""
    if not _schema_checked.is_set():
        check_schema(conn)
        _schema_checked.set()


def _stored(tx_id: str, row: tuple[Any, ...]) -> dict[str, Any]:
    version, previous_status, at = row[0], row[1], row[2]
    return {"transaction_id": tx_id, "version": int(version), "previous_status": previous_status,
            "status_updated_at": utc_iso(at)}  # fmt: skip


def apply(conn: psycopg.Connection, tx: dict[str, Any], execution_id: str | None) -> dict[str, Any]:
    """Apply one message inside the caller's database transaction; the stored version it stands for."""
    tx_id, status = tx["transactionId"], tx["payment_details"]["transaction_status"]
    current = conn.execute(CURRENT_SQL, (tx_id,)).fetchone()
    if current is None:
        inserted = conn.execute(INSERT_SQL, compliance_row(tx, execution_id)).fetchone()
        if inserted is not None:
            return _stored(tx_id, inserted)
        current = conn.execute(CURRENT_SQL, (tx_id,)).fetchone()  # another writer inserted it meanwhile
        if current is None:  # ... and an undo removed it again: try again
            raise DatabaseUnavailable(f"transactionId: {tx_id} changed while being stored; retry")
    stored_status, stored_version, raw = current
    mine = conn.execute(VERSION_OF_STATUS_SQL, (tx_id, status)).fetchone()
    if mine is not None:  # this status is a stored version already
        owner = str(mine[3] or "")
        if owner.startswith(BULK_OWNER_PREFIXES):
            raise AlreadyStored(f"transactionId: {tx_id} was stored by {owner}")
        return _stored(tx_id, mine)  # this message's own retry or redrive (an API execution stored it)
    verdict = decide(stored_status, status)
    if verdict in (Verdict.DUPLICATE, Verdict.STALE):  # DUPLICATE here: a row with no history (never after 005)
        raise StaleVersion(
            f"transaction_status: {tx_id} is stored at version {stored_version}, a later point of its lifecycle:"
            " nothing written"
        )
    if verdict is Verdict.ILLEGAL:
        raise LifecycleMoveRefused("transaction_status", MOVE_NOT_ALLOWED, move_refusal_text())
    path = changed_immutable(raw, tx)
    if path is not None:
        raise LifecycleMoveRefused(path, IMMUTABLE_FIELD, immutable_refusal_text(path))
    updated = conn.execute(UPDATE_SQL, compliance_row(tx, execution_id)).fetchone()
    if updated is None:  # never: the row is locked FOR UPDATE above
        raise DatabaseUnavailable(f"transactionId: {tx_id} changed while being stored; retry")
    return _stored(tx_id, updated)


def store(tx: dict[str, Any], execution_id: str | None = None) -> dict[str, Any]:
    """Apply the message in one database transaction: {transaction_id, version, previous_status,
    status_updated_at} of the version it is, or the named error of a message that stores nothing."""
    secret_id = get_settings().compliance_writer_secret_id
    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            return apply(conn, tx, execution_id)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with metrics.stage("StoreComplianceRecord"):
        try:
            return store(event["transaction"], event.get("execution_id"))
        except StaleVersion:
            metrics.emit("StaleVersionsIgnored", 1, Entrance="api")
            raise
        except LifecycleMoveRefused:
            metrics.rejected("api", "LifecycleMoveRefused")
            raise
