"""Schema evolution of the warehouse raw table: add the contract's new nullable columns before a load.

``create table if not exists`` leaves a table deployed under an older contract as it was, and
Redshift has no ``ADD COLUMN IF NOT EXISTS``. So before each load the job reads the table's
columns (``information_schema.columns``, parameterised: PostgreSQL and Redshift both have it)
and adds every contract column it lacks with one ``ALTER TABLE ... ADD COLUMN`` each (Redshift
allows one column per ALTER), in contract order, so the table keeps the contract's column order
(Redshift's ``COPY ... FORMAT AS PARQUET`` maps columns by position).

Only additions, only nullable columns or ``not null`` ones with a contract default (``version``:
``default 1``, so the rows loaded before versions are version 1; PostgreSQL and Redshift both fill
existing rows with the default): nothing is ever dropped or retyped. A column whose type differs
from the contract, or a missing ``not null`` column without a default (existing rows have no value
for it), is a :class:`SchemaEvolutionError` naming the column and the types, never a value.

Then the primary key (:func:`evolve_primary_key`): a table made before versions has
``primary key (transaction_id)``; once ``version`` exists (every row version 1, so the old key
being unique means the new one is) it becomes ``primary key (transaction_id, version)``: one
transaction that locks the table, reads its key again under the lock, drops the old constraint and
adds the new one under the same name (a concurrent load waits on the lock, then finds the new key and
does nothing). A table without a primary key (a copy made ``LIKE`` it) is left as it is.

Idempotent (a table that has every column gets no statement) and safe under two concurrent
loads: when the other load added the column first, our ALTER fails with SQLSTATE 42701
(duplicate column, on both engines); we read the columns again, check that one, and go on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts.warehouse import (
    COLUMNS,
    PRIMARY_KEY,
    PRIMARY_KEY_BEFORE_VERSIONS,
    RAW_SCHEMA,
    RAW_TABLE,
    Column,
    column_ddl,
)

logger = logging.getLogger(__name__)

DUPLICATE_COLUMN = "42701"  # SQLSTATE of "column ... already exists", PostgreSQL and Redshift

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_TYPE = re.compile(r"^\s*([a-z][a-z ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")
#: contract spellings -> information_schema.columns.data_type (what both engines report)
_DATA_TYPES = {
    "varchar": "character varying",
    "character varying": "character varying",
    "char": "character",
    "character": "character",
    "bpchar": "character",
    "numeric": "numeric",
    "decimal": "numeric",
    "timestamp": "timestamp without time zone",
    "timestamp without time zone": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
    "timestamp with time zone": "timestamp with time zone",
    "date": "date",
    "boolean": "boolean",
    "bool": "boolean",
    "smallint": "smallint",
    "integer": "integer",
    "int": "integer",
    "bigint": "bigint",
    "real": "real",
    "double precision": "double precision",
    "text": "text",
}
_SIZED = {"character varying", "character"}


class SchemaEvolutionError(RuntimeError):
    """The raw table cannot be brought to the contract by adding nullable columns."""


@dataclass(frozen=True)
class ColumnType:
    """A column type as ``information_schema.columns`` describes it."""

    data_type: str
    length: int | None = None  # character_maximum_length
    precision: int | None = None  # numeric_precision (numeric only)
    scale: int | None = None  # numeric_scale (numeric only)

    def __str__(self) -> str:
        if self.data_type in _SIZED and self.length is not None:
            return f"{self.data_type}({self.length})"
        if self.data_type == "numeric" and self.precision is not None:
            return f"numeric({self.precision},{self.scale or 0})"
        return self.data_type


def contract_type(column: Column) -> ColumnType:
    """The type a contract column has in ``information_schema.columns`` once created."""
    match = _TYPE.match(column.sql_type.lower())
    base = _DATA_TYPES.get(match.group(1)) if match else None
    if match is None or base is None:  # pragma: no cover - guards edits of contracts/warehouse.py
        raise SchemaEvolutionError(f"{column.name}: contract type {column.sql_type} is not one evolution knows")
    size, scale = match.group(2), match.group(3)
    if base in _SIZED:
        return ColumnType(base, length=int(size) if size else (1 if base == "character" else None))
    if base == "numeric":
        return ColumnType(base, precision=int(size) if size else None, scale=int(scale) if scale else 0)
    return ColumnType(base)


def existing_columns(conn: Any, schema: str = RAW_SCHEMA, table: str = RAW_TABLE) -> dict[str, ColumnType]:
    """The table's columns and their types (empty when there is no such table)."""
    rows = conn.execute(
        "select column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
        "from information_schema.columns where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    ).fetchall()
    out: dict[str, ColumnType] = {}
    for name, data_type, length, precision, scale in rows:
        data_type = str(data_type).lower()
        numeric = data_type == "numeric"
        out[str(name).lower()] = ColumnType(
            data_type,
            int(length) if length is not None and data_type in _SIZED else None,
            int(precision) if numeric and precision is not None else None,
            int(scale) if numeric and scale is not None else None,
        )
    return out


def _check_type(column: Column, existing: ColumnType, table: str) -> None:
    wanted = contract_type(column)
    if existing != wanted:
        raise SchemaEvolutionError(
            f"{table}.{column.name}: the warehouse has type {existing}, the contract says {wanted}; "
            "schema evolution only adds nullable columns (never retypes): migrate this column by hand"
        )


def _checked(*names: str) -> None:
    for name in names:
        if not _IDENTIFIER.match(name):  # pragma: no cover - the names are the contract's, not input
            raise SchemaEvolutionError(f"{name!r} is not a plain lower-case identifier")


def add_column_sql(column: Column, schema: str = RAW_SCHEMA, table: str = RAW_TABLE) -> str:
    """One column per statement (Redshift's rule); nullable, or ``default <x> not null`` with its default."""
    _checked(schema, table, column.name)
    return f"alter table {schema}.{table} add column {column_ddl(column)}"


def evolve_table(
    conn: Any, columns: Sequence[Column] = COLUMNS, schema: str = RAW_SCHEMA, table: str = RAW_TABLE
) -> list[str]:
    """Add the contract columns the table lacks; returns their names (``[]`` when it has them all).

    Raises :class:`SchemaEvolutionError` before any ALTER when a column has another type than the
    contract's or a missing column is ``not null``. Each ALTER commits on its own.
    """
    qualified = f"{schema}.{table}"
    have = existing_columns(conn, schema, table)
    if not have:
        raise SchemaEvolutionError(f"{qualified}: no such table (create it before evolving it)")
    missing = [c for c in columns if c.name not in have]
    for column in columns:
        if column.name in have:
            _check_type(column, have[column.name], qualified)
    required = [c.name for c in missing if not c.nullable and c.default is None]
    if required:
        raise SchemaEvolutionError(
            f"{qualified}: missing not-null columns {', '.join(required)}: existing rows have no value for "
            "them; schema evolution only adds nullable columns or not-null ones with a default"
        )
    added: list[str] = []
    for column in missing:
        try:
            with conn.transaction():
                conn.execute(add_column_sql(column, schema, table))
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != DUPLICATE_COLUMN:
                raise
            # a concurrent load added it first: check what it added and go on
            now = existing_columns(conn, schema, table)
            if column.name not in now:  # pragma: no cover - 42701 names a column that exists
                raise
            _check_type(column, now[column.name], qualified)
            logger.info("%s.%s: added by a concurrent load", qualified, column.name)
            continue
        added.append(column.name)
    if added:
        logger.info("%s: added columns %s", qualified, ", ".join(added))
    return added


_PRIMARY_KEY_COLUMNS = (
    "select tc.constraint_name, kcu.column_name from information_schema.table_constraints tc "
    "join information_schema.key_column_usage kcu on kcu.constraint_schema = tc.constraint_schema "
    "and kcu.constraint_name = tc.constraint_name and kcu.table_name = tc.table_name "
    "where tc.table_schema = %s and tc.table_name = %s and tc.constraint_type = 'PRIMARY KEY' "
    "order by kcu.ordinal_position"
)


def primary_key(conn: Any, schema: str = RAW_SCHEMA, table: str = RAW_TABLE) -> tuple[str | None, tuple[str, ...]]:
    """(constraint name, its columns in key order) of the table's primary key; (None, ()) when it has none."""
    rows = conn.execute(_PRIMARY_KEY_COLUMNS, (schema, table)).fetchall()
    if not rows:
        return None, ()
    return str(rows[0][0]), tuple(str(r[1]).lower() for r in rows)


def evolve_primary_key(
    conn: Any,
    key: Sequence[str] = PRIMARY_KEY,
    before: Sequence[str] = PRIMARY_KEY_BEFORE_VERSIONS,
    schema: str = RAW_SCHEMA,
    table: str = RAW_TABLE,
) -> bool:
    """Replace the primary key ``before`` by ``key`` (True when it did); run after :func:`evolve_table`.

    One transaction: ``lock table`` (both engines: an exclusive lock), the key read again under it, then
    ``drop constraint`` and ``add constraint <same name> primary key (...)``. Nothing to do when the key
    already is ``key`` or the table has none; any other key is a :class:`SchemaEvolutionError`.
    """
    qualified = f"{schema}.{table}"
    _checked(schema, table, *key)
    with conn.transaction():
        conn.execute(f"lock table {qualified}")
        name, columns = primary_key(conn, schema, table)
        if name is None or columns == tuple(key):
            return False
        if columns != tuple(before):
            raise SchemaEvolutionError(
                f"{qualified}: primary key ({', '.join(columns)}) is neither ({', '.join(before)}) nor the "
                f"contract's ({', '.join(key)}): migrate it by hand"
            )
        _checked(name)
        conn.execute(f"alter table {qualified} drop constraint {name}")
        conn.execute(f"alter table {qualified} add constraint {name} primary key ({', '.join(key)})")
    logger.info("%s: primary key is now (%s)", qualified, ", ".join(key))
    return True
