"""A throwaway PostgreSQL warehouse for the dbt tests.

`warehouse_dsn` is a libpq connection string for a database where
`raw.mtx_transactions` exists and can be written and the role `mtx_analysts`
exists. This self-contained version starts its own PostgreSQL server on a free
port for the session and stops it afterwards; the project's shared runtime
fixture can replace it (the tests use nothing else from here).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from contracts.warehouse import raw_table_ddl

ANALYSTS_ROLE = "mtx_analysts"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as `postgres` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@pytest.fixture(scope="session")
def warehouse_dsn() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    root = Path(tempfile.mkdtemp(prefix="mtx-dbt-pg-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    data, log = root / "data", root / "server.log"
    port = _free_port()
    subprocess.run(
        _as_server_user([initdb, "-D", str(data), "-A", "trust", "-U", "mtx", "-E", "UTF8", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_server_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        admin = f"host=127.0.0.1 port={port} user=mtx dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("create database warehouse")
            conn.execute(f"create role {ANALYSTS_ROLE} nologin")
        dsn = f"host=127.0.0.1 port={port} user=mtx dbname=warehouse"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create schema raw")
            conn.execute(raw_table_ddl())
        yield dsn
    finally:
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
