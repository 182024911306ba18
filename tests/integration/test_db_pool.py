"""The per-process connection pool of the Lambdas across a database restart.

Found by the batch outage test in a full run: earlier tests left idle pooled
connections; the database restarted; the redrive's executions drew dead
connections one after another (Retry sleeps are off in tests) until their
retries ran out, and a valid transaction was dead-lettered a second time.
"""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
import pytest

from lambdas.common import db
from lambdas.common.errors import DatabaseUnavailable
from orchestration.runtime.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture
def secret_id(stack: LocalStack) -> str:
    """A secret of this test's own, holding the compliance connection: a pool no other code of the session uses."""
    sm = stack.client("secretsmanager")
    own = f"{stack.require_settings().name_prefix}/pool-test-db"
    value = sm.get_secret_value(SecretId=stack.require_settings().compliance_writer_secret_id)["SecretString"]
    try:
        sm.create_secret(Name=own, SecretString=value)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=own, SecretString=value)
    db.close_all()
    return own


def fill_pool(secret_id: str, n: int) -> list[int]:
    """Hold n connections at once, then give them back: n idle connections in the pool."""
    with ExitStack() as hold:
        conns = [hold.enter_context(db.connection(secret_id)) for _ in range(n)]
        pids = [c.info.backend_pid for c in conns]
    assert len(db._idle[secret_id]) == n
    return pids


def test_idle_connections_killed_by_a_restart_are_not_handed_out(stack: LocalStack, secret_id: str) -> None:
    old = fill_pool(secret_id, 8)
    stack.pg.kill()
    stack.pg.restart()
    with db.connection(secret_id) as conn, conn.transaction():  # the first borrow after the restart works
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.info.backend_pid not in old
    assert len(db._idle[secret_id]) == 1  # the 8 dead ones were closed, the fresh one kept


def test_one_failure_drops_the_idle_siblings_when_the_socket_cannot_tell(
    stack: LocalStack, secret_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partition sends no FIN, so an idle socket looks fine: the first failure must flush the pool,
    or each retry draws the next dead connection."""
    fill_pool(secret_id, 8)
    monkeypatch.setattr(db, "_looks_alive", lambda conn: not conn.closed)
    stack.pg.kill()
    stack.pg.restart()
    with pytest.raises(DatabaseUnavailable), db.connection(secret_id) as conn:
        conn.execute("select 1")
    assert db._idle.get(secret_id, []) == []
    with db.connection(secret_id) as conn:  # the retry connects afresh
        assert conn.execute("select 1").fetchone() == (1,)


def test_a_connection_left_in_a_transaction_is_not_pooled(secret_id: str) -> None:
    with db.connection(secret_id) as conn:
        conn.execute("select 1")  # psycopg opens a transaction: not idle
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert db._idle.get(secret_id, []) == []


def test_a_failed_query_keeps_the_healthy_idle_connections(secret_id: str) -> None:
    """A statement timeout is an OperationalError too, but the server is fine: the idle pool stays."""
    fill_pool(secret_id, 4)
    with pytest.raises(DatabaseUnavailable), db.connection(secret_id) as conn:
        conn.execute("set statement_timeout = 10")
        conn.execute("select pg_sleep(1)")
    assert len(db._idle[secret_id]) == 3  # the failed one closed, its three siblings kept
