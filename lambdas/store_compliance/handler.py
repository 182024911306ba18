"""StoreComplianceRecord: the full record (with payment details) into PostgreSQL (RDS).

The row is the contract's (``contracts/compliance.py``), made from the transaction ValidateTransaction
output, which is trusted as it is (not validated again).

Idempotent on transaction_id (ON CONFLICT DO NOTHING); parameterised SQL only;
credentials come from Secrets Manager through get_secret().
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from contracts.compliance import SCHEMA, TABLE, WRITTEN, compliance_row
from contracts.config import get_settings
from lambdas.common import metrics
from lambdas.common.db import connection
from lambdas.common.errors import AlreadyStored, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer
from lambdas.store_compliance.migrate import check_schema

logger = get_logger("store-compliance")
tracer = get_tracer("store-compliance")
#: Rows written by the batch path carry execution_id "batch:<run>:<chunk>".
#: owners of rows stored by the bulk entrances (a file run, a stream batch): a transaction stored there is
#: AlreadyStored for the API path, not its own retry
BULK_OWNER_PREFIXES = ("batch:", "stream:")
_schema_checked = threading.Event()

#: The writer's INSERT, its columns and parameters generated from the contract's compliance row
#: (contracts/compliance.py); identifiers are the declaration's constants, values are parameters.
INSERT_SQL = (
    f"insert into {SCHEMA}.{TABLE} ({', '.join(WRITTEN)})\n"
    f"values ({', '.join(f'%({name})s' for name in WRITTEN)})\n"
    "on conflict (transaction_id) do nothing"
)


def ensure_schema(conn: psycopg.Connection) -> None:
    """Once per process (a cold start): the schema is at the version this code needs, else
    SchemaNotMigrated. The writer runs no DDL: migrations run at deploy time (lambdas/migrate_databases)."""
    if not _schema_checked.is_set():
        check_schema(conn)
        _schema_checked.set()


def store(tx: dict[str, Any], execution_id: str | None = None) -> dict[str, Any]:
    """Insert once. A row already there from this entrance (a retry, a redrive) is fine;
    a row stored by a bulk path (file or stream) means this transaction was stored already: AlreadyStored."""
    secret_id = get_settings().compliance_writer_secret_id
    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            cur = conn.execute(INSERT_SQL, compliance_row(tx, execution_id))
            inserted = cur.rowcount == 1
            if not inserted:
                owner = conn.execute(
                    "select execution_id from compliance.transactions where transaction_id = %s",
                    (tx["transactionId"],),
                ).fetchone()
                if owner and str(owner[0] or "").startswith(BULK_OWNER_PREFIXES):
                    raise AlreadyStored(f"transactionId: {tx['transactionId']} was stored by {owner[0]}")
    return {"transaction_id": tx["transactionId"], "inserted": inserted}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with metrics.stage("StoreComplianceRecord"):
        return store(event["transaction"], event.get("execution_id"))
