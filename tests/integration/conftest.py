"""One PostgreSQL server for the integration tests that do not need the whole local stack.

The dbt and Glue tests each get a database of their own on it (``fresh_database``) instead of
starting, initialising and stopping a server each. The local stack keeps its own server: it
stands for RDS + Redshift with its roles, migrations and secrets.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from lambdas.migrate_databases import roles
from orchestration.runtime.postgres import PostgresServer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="mtx-it-pg-"))
    root.chmod(0o755)  # PostgreSQL runs as an unprivileged user when the tests run as root
    server = PostgresServer(root=root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def fresh_database(pg_server: PostgresServer) -> Callable[[str], str]:
    """``fresh_database(name)``: an empty warehouse database with its roles (lambdas/migrate_databases/roles.py:
    the transformer, the analytics reader, the analysts role, the raw schema); its DSN as the transformer."""

    def make(name: str) -> str:
        with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        with psycopg.connect(pg_server.dsn(name), autocommit=True) as conn:
            roles.provision_warehouse(conn, name, pg_server.role_passwords, "postgres")
        return pg_server.role_dsn(name, roles.WAREHOUSE_TRANSFORMER)

    return make
