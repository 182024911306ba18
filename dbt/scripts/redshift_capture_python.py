"""The SQL the product's own Python code sends to Redshift, recorded (for ``redshift_capture.py``).

The Glue job's load, the analytics API's named operations, the warehouse migrations on their
``redshift`` path and the data checks' own queries, each called with a
:class:`~redshift_recording.RecordingConnection` in place of the warehouse's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any
from unittest import mock

from redshift_recording import RecordingConnection
from redshift_standin import WATERMARK


def capture_glue() -> list[dict[str, Any]]:
    from contracts.warehouse import COLUMNS, ENRICHED, PRIMARY_KEY_BEFORE_VERSIONS, VERSIONED
    from glue_jobs.flatten_transactions import evolve, load, result

    records: list[dict[str, Any]] = []
    partitions = ["2026-11-01", "2026-11-02"]
    # the raw table as deployed before the Enrich stage and versions: the schema evolution's ALTERs (columns,
    # then the primary key) get captured too
    old_types = {c.name: evolve.contract_type(c) for c in COLUMNS if c not in ENRICHED and c not in VERSIONED}
    old_columns = [(name, t.data_type, t.length, t.precision, t.scale) for name, t in old_types.items()]
    answers = {
        "to_char(source_partition": [(partitions[0], 2), (partitions[1], 1)],
        "select count(*) from": [(3,)],
        "information_schema.columns": old_columns,
        "information_schema.table_constraints": [("mtx_transactions_pkey", c) for c in PRIMARY_KEY_BEFORE_VERSIONS],
    }
    conn = RecordingConnection(records, "glue load", "glue_jobs/flatten_transactions/load.py", answers)
    load.ensure_warehouse(conn, "redshift")
    load.read_bookmarks(conn, "mtx-flatten")
    started = dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC)
    load.record_run_start(conn, "mtx-flatten", "run-1", started)
    load.merge_into_warehouse(
        conn,
        lambda cur, table: load.copy_from_s3_parquet(
            cur, table, "curated-bucket", partitions, "arn:aws:iam::000000000000:role/copy"
        ),
        job_name="mtx-flatten",
        partitions=partitions,
        processed_at=started,
    )
    result = result.JobResult("mtx-flatten", "run-1", started, status="succeeded", finished_at=started)
    result.partitions = partitions
    load.record_run_end(conn, result)
    return records


#: names of the (unread) secrets the analytics API is pointed at: which of its connections is the warehouse's
WAREHOUSE_SECRET, COMPLIANCE_SECRET = "capture-warehouse", "capture-compliance"


def capture_analytics_api() -> list[dict[str, Any]]:
    from lambdas.analytics_api import models, operations, warehouse

    records: list[dict[str, Any]] = []
    current = {"origin": ""}
    answers: dict[str, list[Any]] = {
        "information_schema.schemata": [{"schema_name": "analytics"}, {"schema_name": "raw"}],
        "information_schema.tables": [{"schema": "raw", "table": "mtx_transactions", "table_type": "base table"}],
        "row_count": [{"schema": "raw", "table": "mtx_transactions", "row_count": 3}],
        "max(loaded_at)": [{"last_loaded_at": WATERMARK, "age_seconds": 60}],
        "raw_count": [{"raw_count": 3, "mart_count": 3}],
    }

    @contextlib.contextmanager
    def connection(secret_id: str) -> Iterator[Any]:
        source = "analytics api" if secret_id == WAREHOUSE_SECRET else "compliance store (not Redshift)"
        yield RecordingConnection(records, source, current["origin"], answers | {"transaction_count": [{"n": 3}]})

    with (
        mock.patch.object(warehouse, "connection", connection),
        mock.patch.object(operations, "dead_letter_depth", lambda name: 0),
        warehouse.overridden(
            warehouse_secret_id=WAREHOUSE_SECRET, compliance_secret_id=COMPLIANCE_SECRET, dead_letter_queue_name="dlq"
        ),
    ):
        for name, params in _operation_params(models, skip=operations.READS_NO_WAREHOUSE):
            current["origin"] = f"lambdas/analytics_api/operations.py {name}"
            operations.run(name, params)
    return [r for r in records if r["source"] == "analytics api"]


def _operation_params(models: Any, skip: frozenset[str] = frozenset()) -> list[tuple[str, Any]]:
    """Every operation that reads the warehouse with its default parameters, and the variants that change the SQL."""
    out: list[tuple[str, Any]] = []
    for name in models.OPERATIONS:
        if name in skip:
            continue
        variants: list[dict[str, Any]] = [{}]
        if name == "player_analysis":
            variants = [{"level": "segment"}, {"level": "player"}]
        for extra in variants:
            out.append((name, models.OPERATIONS[name].model_validate(extra)))
    return out


def capture_migrations() -> list[dict[str, Any]]:
    from contracts.warehouse import raw_table_ddl
    from lambdas.migrate_databases import roles

    records: list[dict[str, Any]] = []
    conn = RecordingConnection(
        records, "migrations", "lambdas/migrate_databases/roles.py", {"from pg_namespace": [(1,)]}
    )
    passwords = {roles.WAREHOUSE_TRANSFORMER: "x", roles.WAREHOUSE_READER: "y"}
    with mock.patch.object(roles, "_hashed", lambda conn, role, password, engine: "md5" + "0" * 32):
        roles.provision_warehouse(conn, "analytics", passwords, "redshift")  # type: ignore[arg-type]
        roles.prepare_warehouse(conn, raw_table_ddl(engine="redshift"))  # type: ignore[arg-type]
    return records


def capture_data_checks() -> list[dict[str, Any]]:
    """The data checks' own warehouse SQL (expectations/inputs.py): the reconciliation totals, the tables
    a suite needs. (The expectations' queries themselves are Great Expectations' SQLAlchemy SQL: not captured.)"""
    from expectations import inputs

    records: list[dict[str, Any]] = []
    origin = "expectations/inputs.py"
    answers = {
        "sum(price_amount)": [(3, 30)],
        "sum(amount)": [(3, 30, 25)],
        "sum(transaction_count)": [(3, 25)],
        "sum(net_usd)": [(25, 0)],
        "information_schema.tables": [("fct_transactions",)],
    }
    warehouse = RecordingConnection(records, "data checks", origin, answers)
    compliance = RecordingConnection([], "compliance store (not Redshift)", origin, {"select": [(3,)]})

    def connect(dsn: str, **_: Any) -> RecordingConnection:
        return warehouse if dsn == "capture-warehouse" else compliance

    with mock.patch("psycopg.connect", connect):
        inputs.reconciliation_frame("capture-warehouse", "capture-compliance", 0)
        inputs.existing_tables("capture-warehouse", "analytics", ["fct_transactions", "dim_players"])
    return records
