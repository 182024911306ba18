"""Versioned schema migrations for the compliance store (applied once each, in order)."""

from __future__ import annotations

from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def migrations() -> list[tuple[int, str, str]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.name, path.read_text()))
    return found


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to call concurrently."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(727274)")
        conn.execute(
            "create table if not exists public.schema_migrations ("
            " version int primary key, name text not null, applied_at timestamptz not null default now())"
        )
        done = {r[0] for r in conn.execute("select version from public.schema_migrations")}
        for version, name, text in migrations():
            if version in done:
                continue
            conn.execute(text.encode())  # trusted SQL files shipped with the code
            conn.execute("insert into public.schema_migrations (version, name) values (%s, %s)", (version, name))
            applied.append(name)
    return applied
