"""A throwaway PostgreSQL warehouse for the dbt tests.

`warehouse_dsn` is a libpq connection string for a database where
`raw.mtx_transactions` exists and can be written and the role `mtx_analysts`
exists: a database of its own on the integration tests' shared server
(tests/integration/conftest.py), connected as the warehouse transformer role.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from contracts.warehouse import raw_table_ddl


@pytest.fixture(scope="session")
def warehouse_dsn(fresh_database: Callable[[str], str]) -> str:
    dsn = fresh_database("dbt_it_warehouse")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists raw")
        conn.execute(raw_table_ddl())
    return dsn
