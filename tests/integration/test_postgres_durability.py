"""The local PostgreSQL keeps every commit it acknowledged when it is killed (the tests' and the soak's
"database down" is an immediate shutdown): nothing stored is lost by a restart.

Measured: with ``synchronous_commit=off`` the server acknowledged commits whose WAL was still in its
buffers, and an immediate shutdown right after them lost the last few (274 of 300 here; the PII canary
test found two stored transactions missing from the compliance store after its database-down step).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from orchestration.runtime.postgres import PostgresServer

pytestmark = pytest.mark.integration


def test_acknowledged_commits_survive_an_immediate_shutdown(
    pg_server: PostgresServer, fresh_database: Callable[[str], str]
) -> None:
    fresh_database("durability")
    dsn = pg_server.dsn("durability")  # the server's behaviour, not a role's: as its superuser
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("show synchronous_commit").fetchone() == ("on",)
        conn.execute("create table acked (n int primary key)")
        for n in range(300):  # one commit each, as the store functions do
            conn.execute("insert into acked values (%s)", (n,))
    pg_server.kill()  # pg_ctl stop -m immediate: no shutdown checkpoint, WAL buffers not written
    pg_server.restart()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from acked").fetchone() == (300,)
