"""The compliance store's row of a transaction (PostgreSQL ``compliance.transactions``), declared once.

The whole record, payment details included: the one place personal data is kept. Consumers: the
per-transaction writer (``lambdas/store_compliance``: its INSERT and its row), the file path's COPY
(``lambdas/process_chunk``: its column list; its fast COPY line is tested equal to :func:`compliance_row`)
and the drift test that compares :func:`table_ddl` with the table the versioned migrations create
(``tests/integration/test_compliance_schema.py``). The migrations stay hand-written SQL: a deployed
schema changes only by a new migration, and the drift test says when this declaration and it part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from contracts.acceptance import MAX_ID_CHARS, MAX_NAME_CHARS
from contracts.transaction import Transaction

SCHEMA = "compliance"
TABLE = "transactions"
#: The column holding the record as stored (the wire form, JSON); not a path of the contract.
RAW = "raw"
#: Who stored the row: the execution (per-transaction path) or ``batch:<run>:<chunk>`` (file path).
EXECUTION_ID = "execution_id"
VERSION = "version"
PREVIOUS_STATUS = "previous_status"
UPDATED_AT = "updated_at"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # PostgreSQL
    source: str  # dotted wire path in the transaction, or "" for a column the store fills
    nullable: bool = False
    constraint: str = ""  # a column constraint or default, as SQL
    written: bool = True  # set by the writers (False: the database's default fills it)


_ID = f"varchar({MAX_ID_CHARS})"
_ENUM = "varchar(32)"

COLUMNS: tuple[Column, ...] = (
    Column("transaction_id", _ID, "transactionId", constraint="primary key"),
    Column("user_id", _ID, "user_id"),
    Column("game", f"varchar({MAX_NAME_CHARS})", "game"),
    Column("item_id", _ID, "item_purchased.item_id"),
    Column("item_type", _ENUM, "item_purchased.item_type"),
    Column("price_amount", "numeric(18,3)", "item_purchased.price.amount", constraint="check (price_amount > 0)"),
    Column("price_currency", "char(3)", "item_purchased.price.currency"),
    Column("payment_method", _ENUM, "payment_details.payment_method"),
    Column("card_last4", "char(4)", "payment_details.card_last4", nullable=True),
    Column("transaction_status", "varchar(16)", "payment_details.transaction_status"),
    Column("gateway", _ENUM, "payment_details.gateway"),
    Column("event_at", "timestamptz", "event_timestamp"),
    Column("server_region", _ENUM, "server_region"),
    Column("client_ip", "inet", "client_ip"),
    Column(RAW, "jsonb", ""),
    Column(EXECUTION_ID, "text", "", nullable=True),
    Column("stored_at", "timestamptz", "", constraint="default now()", written=False),
    # the current version (contracts/lifecycle.py): version 1 as inserted, each allowed move one up; every
    # version is kept in compliance.transaction_versions (migration 005)
    Column(VERSION, "integer", "", constraint="default 1 check (version >= 1)", written=False),
    Column(PREVIOUS_STATUS, "varchar(16)", "", nullable=True, written=False),
    Column(UPDATED_AT, "timestamptz", "", constraint="default now()", written=False),
)
#: The history of every version (written by the database's triggers, never by a writer).
VERSIONS_TABLE = "transaction_versions"

#: The columns the writers set, in table order (the INSERT's and the COPY's column list).
WRITTEN: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.written)


def table_ddl(schema: str = SCHEMA, table: str = TABLE) -> str:
    """``create table`` of the compliance table, from the declaration (the migrations create the deployed one)."""
    cols = ",\n  ".join(
        f"{c.name} {c.sql_type}{'' if c.nullable or 'primary key' in c.constraint else ' not null'}"
        f"{' ' + c.constraint if c.constraint else ''}"
        for c in COLUMNS
    )
    return f"create table {schema}.{table} (\n  {cols}\n)"


def _value(record: dict[str, Any], path: str) -> Any:
    node: Any = record
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def compliance_row(wire: dict[str, Any], execution_id: str | None = None) -> dict[str, Any]:
    """The written columns' values for a validated transaction in its wire form (``Transaction.to_json_dict()``):
    each column's wire path, amounts as their exact decimal text, the whole record as JSON in ``raw``."""
    row: dict[str, Any] = {}
    for c in COLUMNS:
        if not c.written:
            continue
        if c.name == RAW:
            row[c.name] = json.dumps(wire, separators=(",", ":"))
        elif c.name == EXECUTION_ID:
            row[c.name] = execution_id
        else:
            value = _value(wire, c.source)
            row[c.name] = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    return row


def _wire_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths |= _wire_paths(annotation, f"{path}.")
        else:
            paths.add(path)
    return paths


#: Every leaf of the contract, as a dotted wire path.
CONTRACT_PATHS = frozenset(_wire_paths(Transaction))


def _assert_from_the_contract() -> None:
    unknown = [c.name for c in COLUMNS if c.source and c.source not in CONTRACT_PATHS]
    if unknown:  # pragma: no cover - guards edits of this file
        raise RuntimeError(f"compliance columns map no field of the contract: {unknown}")


_assert_from_the_contract()
