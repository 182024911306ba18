"""StoreComplianceRecord: the full record (with payment details) into PostgreSQL (RDS).

Idempotent on transaction_id (ON CONFLICT DO NOTHING); parameterised SQL only;
credentials come from Secrets Manager through get_secret().
"""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg

from contracts.config import get_settings
from lambdas.common.db import connection
from lambdas.common.errors import AlreadyStored, stable_errors
from lambdas.common.logging import get_logger
from lambdas.store_compliance.migrate import check_schema

logger = get_logger("store-compliance")
#: Rows written by the batch path carry execution_id "batch:<run>:<chunk>".
BATCH_OWNER_PREFIX = "batch:"
_schema_checked = threading.Event()

INSERT_SQL = """
insert into compliance.transactions (
    transaction_id, user_id, game, item_id, item_type, price_amount, price_currency,
    payment_method, card_last4, transaction_status, gateway, event_at, server_region,
    client_ip, raw, execution_id)
values (%(transaction_id)s, %(user_id)s, %(game)s, %(item_id)s, %(item_type)s, %(price_amount)s,
    %(price_currency)s, %(payment_method)s, %(card_last4)s, %(transaction_status)s, %(gateway)s,
    %(event_at)s, %(server_region)s, %(client_ip)s, %(raw)s, %(execution_id)s)
on conflict (transaction_id) do nothing
"""


def row_of(tx: dict[str, Any], execution_id: str | None = None) -> dict[str, Any]:
    item = tx["item_purchased"]
    pay = tx["payment_details"]
    return {
        "transaction_id": tx["transactionId"],
        "user_id": tx["user_id"],
        "game": tx["game"],
        "item_id": item["item_id"],
        "item_type": item["item_type"],
        "price_amount": str(item["price"]["amount"]),
        "price_currency": item["price"]["currency"],
        "payment_method": pay["payment_method"],
        "card_last4": pay.get("card_last4"),
        "transaction_status": pay["transaction_status"],
        "gateway": pay["gateway"],
        "event_at": tx["event_timestamp"],
        "server_region": tx["server_region"],
        "client_ip": tx["client_ip"],
        "raw": json.dumps(tx, separators=(",", ":")),
        "execution_id": execution_id,
    }


def ensure_schema(conn: psycopg.Connection) -> None:
    """Once per process (a cold start): the schema is at the version this code needs, else
    SchemaNotMigrated. The writer runs no DDL: migrations run at deploy time (lambdas/migrate_databases)."""
    if not _schema_checked.is_set():
        check_schema(conn)
        _schema_checked.set()


def store(tx: dict[str, Any], execution_id: str | None = None) -> dict[str, Any]:
    """Insert once. A row already there from this entrance (a retry, a redrive) is fine;
    a row stored by the batch path means this transaction was stored already: AlreadyStored."""
    secret_id = get_settings().compliance_writer_secret_id
    with connection(secret_id) as conn:
        ensure_schema(conn)
        with conn.transaction():
            cur = conn.execute(INSERT_SQL, row_of(tx, execution_id))
            inserted = cur.rowcount == 1
            if not inserted:
                owner = conn.execute(
                    "select execution_id from compliance.transactions where transaction_id = %s",
                    (tx["transactionId"],),
                ).fetchone()
                if owner and str(owner[0] or "").startswith(BATCH_OWNER_PREFIX):
                    raise AlreadyStored(f"transactionId: {tx['transactionId']} was stored by file ingest {owner[0]}")
    return {"transaction_id": tx["transactionId"], "inserted": inserted}


@logger.inject_lambda_context(log_event=False)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return store(event["transaction"], event.get("execution_id"))
