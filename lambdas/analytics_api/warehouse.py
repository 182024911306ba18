"""Read-only, parameterised queries against the warehouse (and the compliance store), errors made stable.

Every query runs in a READ ONLY transaction with a statement timeout; schema names are
identifiers composed by psycopg (never string-formatted), values are bind parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from contracts.config import get_settings
from contracts.warehouse import RAW_SCHEMA, RAW_TABLE
from lambdas.analytics_api.errors import DataNotReady, QueryFailed, WarehouseUnavailable
from lambdas.common.db import connection
from lambdas.common.errors import DatabaseUnavailable
from lambdas.common.logging import get_logger

logger = get_logger("analytics-warehouse")

#: dbt's target schema (dbt/profiles.yml `schema`): the marts live in it.
MARTS_SCHEMA = "analytics"


@dataclass(frozen=True)
class AnalyticsConfig:
    #: the warehouse reader's secret: SELECT on the marts and the raw table, nothing else
    warehouse_secret_id: str
    #: the compliance reader's secret: integrity.transaction_count() only, no table of that database
    compliance_secret_id: str
    dead_letter_queue_name: str
    marts_schema: str = MARTS_SCHEMA
    raw_schema: str = RAW_SCHEMA
    raw_table: str = RAW_TABLE
    statement_timeout_ms: int = 25_000  # under API Gateway's 29 s integration timeout


_override: AnalyticsConfig | None = None


def config() -> AnalyticsConfig:
    if _override is not None:
        return _override
    s = get_settings()
    return AnalyticsConfig(
        warehouse_secret_id=s.warehouse_reader_secret_id,
        compliance_secret_id=s.compliance_reader_secret_id,
        dead_letter_queue_name=s.dead_letter_queue_name,
    )


@contextlib.contextmanager
def overridden(**changes: Any) -> Iterator[AnalyticsConfig]:
    """Tests: point the API at other schemas or secrets for the duration of the block."""
    global _override
    previous = _override
    _override = replace(config(), **changes)
    try:
        yield _override
    finally:
        _override = previous


def fetch(secret_id: str, query: sql.Composable | str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of one read-only query; DatabaseUnavailable / DataNotReady / QueryFailed instead of driver errors."""
    cfg = config()
    try:
        with connection(secret_id) as conn, _read_only(conn), conn.transaction():
            conn.execute(sql.SQL("set local statement_timeout = {}").format(sql.Literal(cfg.statement_timeout_ms)))
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(query, params)  # type: ignore[arg-type]
                return list(cur.fetchall())
    except DatabaseUnavailable:
        raise
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        raise DataNotReady("a table this operation reads does not exist yet (the marts are not built)") from None
    except psycopg.OperationalError as exc:
        logger.warning("warehouse unavailable", extra={"error": type(exc).__name__})
        raise DatabaseUnavailable(f"the database is unavailable ({type(exc).__name__})") from None
    except psycopg.Error as exc:
        logger.error("query failed", extra={"error": type(exc).__name__, "sqlstate": exc.sqlstate})
        raise QueryFailed("the analytics query failed") from None


@contextlib.contextmanager
def _read_only(conn: psycopg.Connection) -> Iterator[None]:
    """Transactions begin READ ONLY (``BEGIN READ ONLY``, which PostgreSQL and Redshift both take; Redshift
    has no ``SET TRANSACTION``); the pooled connection gets its setting back afterwards."""
    previous = conn.read_only
    conn.read_only = True
    try:
        yield
    finally:
        if not conn.closed:
            conn.read_only = previous


def as_unavailable(exc: DatabaseUnavailable) -> WarehouseUnavailable:
    del exc  # its text names the secret: not for clients
    return WarehouseUnavailable("the warehouse is unavailable; retry later")


def ping(secret_id: str) -> None:
    fetch(secret_id, "select 1 as ok")
