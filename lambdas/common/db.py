"""PostgreSQL connections built from a Secrets Manager secret; one per process, reconnecting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from lambdas.common.errors import DatabaseUnavailable
from lambdas.common.secrets import get_secret

_local = threading.local()


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
        )
    except psycopg.OperationalError as exc:
        get_secret(secret_id, refresh=True)  # the password may have been rotated
        raise DatabaseUnavailable(
            f"database of secret {secret_id} unavailable: {type(exc).__name__}"
        ) from None


@contextmanager
def connection(secret_id: str) -> Iterator[psycopg.Connection]:
    """A healthy connection (per thread, reused across invocations like a warm Lambda)."""
    conns: dict[str, psycopg.Connection] = getattr(_local, "conns", None) or {}
    _local.conns = conns
    conn = conns.get(secret_id)
    if conn is None or conn.closed or conn.broken:
        conn = _connect(secret_id)
        conns[secret_id] = conn
    try:
        yield conn
    except psycopg.OperationalError as exc:
        conns.pop(secret_id, None)
        try:
            conn.close()
        finally:
            raise DatabaseUnavailable(f"database of secret {secret_id} failed: {type(exc).__name__}") from None
