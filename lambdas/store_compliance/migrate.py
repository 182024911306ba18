"""Versioned schema migrations for the compliance store (applied once each, in order).

Run at deploy time only, as the migrator role (lambdas/migrate_databases: the Terraform-invoked
migration step in AWS, ``mtx migrate`` and the local stack's start locally). The runtime functions
log in as the writer, which may not run DDL: they only check the schema is at the version their
code expects (``check_schema``).
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from lambdas.common.errors import PipelineError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The migration history, in the schema the migrator owns (the writer may read it).
HISTORY_TABLE = "compliance.schema_migrations"


class SchemaNotMigrated(PipelineError):
    """The compliance schema is older than this code: the deploy-time migration has not run."""


def migrations() -> list[tuple[int, str, str]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.name, path.read_text()))
    return found


def latest_version() -> int:
    return max(version for version, _, _ in migrations())


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to call concurrently.

    The ``compliance`` schema exists already (created for the migrator by
    lambdas/migrate_databases/roles.py provision_compliance)."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(727274)")
        conn.execute("create schema if not exists compliance")
        conn.execute(
            f"create table if not exists {HISTORY_TABLE} ("
            " version int primary key, name text not null, applied_at timestamptz not null default now())"
        )
        done = {r[0] for r in conn.execute(f"select version from {HISTORY_TABLE}")}
        for version, name, text in migrations():
            if version in done:
                continue
            conn.execute(text.encode())  # trusted SQL files shipped with the code
            conn.execute(f"insert into {HISTORY_TABLE} (version, name) values (%s, %s)", (version, name))
            applied.append(name)
    return applied


def check_schema(conn: psycopg.Connection) -> int:
    """The schema's version; SchemaNotMigrated when it is older than this code (or absent)."""
    expected = latest_version()
    with conn.transaction():
        if conn.execute("select to_regclass(%s)", (HISTORY_TABLE,)).fetchone() == (None,):
            version = 0
        else:
            row = conn.execute(f"select max(version) from {HISTORY_TABLE}").fetchone()
            version = int(row[0] or 0) if row else 0
    if version < expected:
        raise SchemaNotMigrated(
            f"the compliance schema is at version {version}, this code needs {expected}: run the deploy-time"
            " migration (Terraform applies it in AWS; `mtx migrate` locally)"
        )
    return version
