"""Drift: the compliance table the versioned migrations create (lambdas/store_compliance/migrations, kept as
deployed) is the one the contract declares (contracts/compliance.py), in the real PostgreSQL.

The contract's DDL is created beside the migrated table, in a scratch schema, and the two are compared
as PostgreSQL describes them: columns in order with their types, nullability and defaults, the
primary key and the check constraints."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql

from contracts.compliance import COLUMNS, SCHEMA, TABLE, WRITTEN, table_ddl
from orchestration.runtime.stack import LocalStack

pytestmark = pytest.mark.integration

_COLUMNS = """
select column_name, ordinal_position, data_type, character_maximum_length, numeric_precision, numeric_scale,
       is_nullable, column_default
from information_schema.columns where table_schema = %s and table_name = %s order by ordinal_position
"""
_CONSTRAINTS = """
select c.contype, pg_get_constraintdef(c.oid) from pg_constraint c
where c.conrelid = to_regclass(%s) and c.contype in ('p', 'c', 'u') order by 1, 2
"""


def _describe(conn: psycopg.Connection, schema: str, table: str) -> dict[str, Any]:
    return {
        "columns": conn.execute(_COLUMNS, (schema, table)).fetchall(),
        "constraints": conn.execute(_CONSTRAINTS, (f"{schema}.{table}",)).fetchall(),
    }


def test_the_migrated_compliance_table_is_the_one_the_contract_declares(stack: LocalStack) -> None:
    scratch = f"drift_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.dsn("compliance"), autocommit=True) as conn:
        migrated = _describe(conn, SCHEMA, TABLE)
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(scratch)))
        try:
            conn.execute(table_ddl(scratch, TABLE).encode())  # the declaration's constants, no value in it
            declared = _describe(conn, scratch, TABLE)
        finally:
            conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(scratch)))
    assert migrated["columns"], "the local stack's migrations have not run"
    assert declared == migrated
    filled_by_the_database = {c.name for c in COLUMNS if not c.written}
    assert tuple(c[0] for c in migrated["columns"] if c[0] not in filled_by_the_database) == WRITTEN
