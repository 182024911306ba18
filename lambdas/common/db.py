"""PostgreSQL connections built from a Secrets Manager secret: a small pool per process.

In AWS one Lambda container runs one invocation at a time, so the pool holds
one warm connection; locally many executions share the process, and the pool
keeps a connection per concurrent caller instead of one per call.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from contracts.config import get_settings
from lambdas.common.errors import DatabaseUnavailable
from lambdas.common.secrets import get_secret

_idle: dict[str, list[psycopg.Connection]] = {}
_lock = threading.Lock()
MAX_IDLE = 16
#: Connections in use at once from this process. In AWS each Lambda container holds one; locally every
#: execution shares this process, and a burst (a redrive of hundreds) must wait for a connection rather
#: than exhaust the server's max_connections and be dead-lettered for it.
MAX_IN_USE = 32
_in_use = threading.BoundedSemaphore(MAX_IN_USE)


def _connect(secret_id: str) -> psycopg.Connection:
    secret = get_secret(secret_id)
    try:
        return psycopg.connect(
            host=secret["host"],
            port=int(secret["port"]),
            user=secret["username"],
            password=secret["password"],
            dbname=secret["dbname"],
            connect_timeout=5,
            application_name="mtx-lambda",
            **get_settings().db_ssl_options(),  # AWS: sslmode verify-full against the shipped CA bundle
        )
    except psycopg.OperationalError as exc:
        get_secret(secret_id, refresh=True)  # the password may have been rotated
        raise DatabaseUnavailable(f"database of secret {secret_id} unavailable: {type(exc).__name__}") from None


def _looks_alive(conn: psycopg.Connection) -> bool:
    """An idle connection whose socket is readable is dead: the server closed it (a restart, an
    idle timeout, a failover) or sent it a FATAL. A poll() with no wait costs one system call (poll, not
    select: select() cannot watch a descriptor above 1024, and this process holds many sockets)."""
    if conn.closed or conn.broken:
        return False
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):
        return False


def _acquire(secret_id: str) -> psycopg.Connection:
    stale: list[psycopg.Connection] = []
    with _lock:
        pool = _idle.setdefault(secret_id, [])
        while pool:
            conn = pool.pop()
            if _looks_alive(conn):
                break
            stale.append(conn)
        else:
            conn = None
    for dead in stale:
        dead.close()
    return conn if conn is not None else _connect(secret_id)


def _discard_idle(secret_id: str) -> None:
    """After a connection failed, its idle siblings most likely died with it (the server went away):
    close them all, so that a retry opens a fresh connection instead of drawing the next dead one."""
    with _lock:
        pool = _idle.pop(secret_id, [])
    for conn in pool:
        conn.close()


def _release(secret_id: str, conn: psycopg.Connection) -> None:
    if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.close()
        return
    with _lock:
        pool = _idle.setdefault(secret_id, [])
        if len(pool) < MAX_IDLE:
            pool.append(conn)
            return
    conn.close()


def close_all() -> None:
    with _lock:
        for pool in _idle.values():
            for conn in pool:
                conn.close()
        _idle.clear()


@contextmanager
def connection(secret_id: str) -> Iterator[psycopg.Connection]:
    """A healthy connection for the duration of the block (reused across invocations)."""
    with _in_use, _borrowed(secret_id) as conn:
        yield conn


@contextmanager
def _borrowed(secret_id: str) -> Iterator[psycopg.Connection]:
    conn = _acquire(secret_id)
    try:
        yield conn
    except psycopg.OperationalError as exc:
        lost = conn.broken  # the connection itself failed (not a cancelled query, a deadlock, a timeout)
        conn.close()
        if lost:
            _discard_idle(secret_id)
        raise DatabaseUnavailable(f"database of secret {secret_id} failed: {type(exc).__name__}") from None
    except BaseException:
        conn.close()
        raise
    _release(secret_id, conn)
