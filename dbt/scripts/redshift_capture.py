"""Capture, offline, every SQL statement the product would send to Amazon Redshift.

``python dbt/scripts/redshift_capture.py OUT_DIR`` writes one JSON line per statement
(``{"source", "origin", "phase", "sql"}``) into ``OUT_DIR/<source>.jsonl`` for
``redshift_gate.py`` to check, and prints how many it captured per source.

**dbt**: the real dbt-redshift adapter runs the project (``dbt build --target redshift``
on an empty warehouse, then again as an incremental run, then ``dbt source freshness``;
the analysts' example queries in ``analyses/`` compiled by the same adapter),
with ``redshift_connector.connect`` replaced by :class:`FakeRedshift`: a recording
stand-in for the server. Every statement dbt-redshift sends is recorded as sent (after
dbt-redshift's own split into single statements); the stand-in keeps a catalogue of what
those statements created (schemas, tables, views, their columns, worked out by sqlglot
from each statement) and answers dbt-redshift's introspection from it: its list of
relations, columns (the ``pg_get_late_binding_view_cols`` query), schema checks, grants
(none yet), the column types of a model's query (its contract's ``data_type``, else
sqlglot's type inference). Data queries get plausible answers: a data test finds no
failures, an incremental model's watermark (``select max(...)``) is a timestamp, its
changed days (``select distinct ...``) one date, so the incremental run renders its
``is_incremental()`` branch with values, as it would on a warehouse with data. Nothing is
executed: the capture shows what dbt sends, not what Redshift would answer.

**Glue load**: ``glue_jobs.flatten_transactions.load``'s warehouse functions (DDL, bookmarks,
run log, the staging COPY from S3 and the delete+insert merge) called with a recording
connection, on their Redshift path (``copy_from_s3_parquet``).

**Analytics API**: each named operation of ``lambdas.analytics_api.operations`` run with a
recording connection in place of the warehouse's (the compliance store's queries go to
RDS, not Redshift, and are left out), bind parameters written in as literals.

**Migrations**: ``lambdas.migrate_databases`` provisioning the warehouse on its
``engine == "redshift"`` path (roles, schema, the raw table's DDL, grants).

**Data checks**: the warehouse SQL ``expectations/checkpoint.py`` writes itself (the
reconciliation totals, the check for the tables a suite needs); the expectations' own
queries are Great Expectations' (SQLAlchemy) and are not captured.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError

DBT_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = DBT_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DATABASE = "analytics"  # profiles.yml: MTX_REDSHIFT_DBNAME's default
#: what a watermark query (select max(...)) and a changed-days query (select distinct ...) answer
WATERMARK = dt.datetime(2026, 11, 1, 6, 0, 0)
CHANGED_DATE = dt.date(2026, 11, 1)

# information_schema data_type, type OID (as redshift_connector reports it in a description)
_TYPES: dict[exp.DataType.Type, tuple[str, int]] = {
    exp.DataType.Type.VARCHAR: ("character varying", 1043),
    exp.DataType.Type.NVARCHAR: ("character varying", 1043),
    exp.DataType.Type.TEXT: ("character varying", 1043),
    exp.DataType.Type.CHAR: ("character", 1042),
    exp.DataType.Type.NCHAR: ("character", 1042),
    exp.DataType.Type.DECIMAL: ("numeric", 1700),
    exp.DataType.Type.BIGINT: ("bigint", 20),
    exp.DataType.Type.INT: ("integer", 23),
    exp.DataType.Type.SMALLINT: ("smallint", 21),
    exp.DataType.Type.BOOLEAN: ("boolean", 16),
    exp.DataType.Type.DATE: ("date", 1082),
    exp.DataType.Type.TIMESTAMP: ("timestamp without time zone", 1114),
    exp.DataType.Type.TIMESTAMPTZ: ("timestamp with time zone", 1184),
    exp.DataType.Type.DOUBLE: ("double precision", 701),
    exp.DataType.Type.FLOAT: ("real", 700),
}


@dataclass
class Column:
    name: str
    data_type: str  # as written in SQL, e.g. varchar(64)

    def info(self) -> tuple[str, int, int | None, int | None, int | None]:
        """(information_schema data_type, OID, char length, numeric precision, numeric scale)."""
        try:
            parsed = exp.DataType.build(self.data_type, dialect="redshift")
        except (ParseError, ValueError):
            return ("character varying", 1043, 256, None, None)
        name, oid = _TYPES.get(parsed.this, ("character varying", 1043))
        sizes = [int(e.name) for e in parsed.expressions if e.name.isdigit()]
        if oid in (1043, 1042):
            return (name, oid, sizes[0] if sizes else 256, None, None)
        if oid == 1700:
            return (name, oid, None, sizes[0] if sizes else 18, sizes[1] if len(sizes) > 1 else 0)
        return (name, oid, None, None, None)


@dataclass
class Relation:
    kind: str  # table | view
    columns: list[Column]


@dataclass
class Answer:
    names: Sequence[str] = ()
    oids: Sequence[int] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = -1


def _name(node: exp.Expression | None) -> str | None:
    return node.name.lower() if node is not None and node.name else None


def _key(table: exp.Table) -> tuple[str | None, str]:
    return (_name(table.args.get("db")), table.name.lower())


_QUERY_COMMENT = re.compile(r"^\s*/\*\s*(\{.*?\})\s*\*/\s*", re.DOTALL)


class FakeRedshift:
    """A recording stand-in for the Redshift server behind ``redshift_connector``."""

    def __init__(self, contracts: dict[str, dict[str, str]], relations: dict[tuple[str | None, str], Relation]):
        self.contracts = contracts  # node_id -> {column: data_type}
        self.relations = relations
        self.schemas = {schema for schema, _ in relations if schema}
        self.records: list[dict[str, Any]] = []
        self.phase = ""
        self.in_hook = False
        self.lock = threading.Lock()  # dbt runs models in threads: one statement at a time here

    # -- the driver: redshift_connector.connect(**kwargs) -> connection
    def connect(self, **_kwargs: Any) -> _Connection:
        return _Connection(self)

    # -- one statement
    def run(self, sql: str, params: Any = None, connection: _Connection | None = None) -> Answer:
        with self.lock:
            return self._run(sql, params, connection)

    def _run(self, sql: str, params: Any, connection: _Connection | None) -> Answer:
        node_id = ""
        match = _QUERY_COMMENT.match(sql)
        body = sql
        if match:
            with contextlib.suppress(ValueError):
                node_id = json.loads(match.group(1)).get("node_id") or ""
            body = sql[match.end() :]
        text = _bind(body, params)
        lc = " ".join(text.lower().split()).rstrip(";").strip()
        if connection is not None:
            # dbt-redshift splits a multi-statement string and only the first part carries
            # dbt's query comment: the rest belong to the same node (transaction control and
            # the backend pid query to none)
            if match:
                connection.node_id = node_id
            elif lc not in ("begin", "commit", "rollback", "select pg_backend_pid()"):
                node_id = connection.node_id
        parsed = _parse(text)
        if not node_id and self.in_hook and lc not in ("begin", "commit", "rollback", "select pg_backend_pid()"):
            node_id = "operation.mtx.on-run-end"
        self.records.append(
            {"source": _dbt_source(node_id, parsed, lc), "origin": node_id or "dbt", "phase": self.phase, "sql": text}
        )
        return self._answer(lc, text, parsed, node_id)

    def _answer(self, lc: str, text: str, parsed: exp.Expression | None, node_id: str) -> Answer:
        if lc == "select pg_backend_pid()":
            return Answer(["pg_backend_pid"], [23], [(4242,)])
        if "from information_schema.tables" in lc and "table_schema ilike" in lc:
            schema = re.search(r"table_schema ilike '([^']*)'", lc).group(1)  # type: ignore[union-attr]
            rows = [
                (DATABASE, name, schema, rel.kind)
                for (s, name), rel in sorted(self.relations.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
                if s == schema
            ]
            return Answer(["database", "name", "schema", "type"], [1043] * 4, rows)
        if "from pg_namespace" in lc and "count(*)" in lc:
            schema = re.search(r"nspname = '([^']*)'", lc)
            return Answer(["count"], [20], [(int(bool(schema) and schema.group(1) in self.schemas),)])
        if "from pg_namespace" in lc and "nspname" in lc:
            return Answer(["nspname"], [1043], [(s,) for s in sorted(self.schemas)])
        if "pg_get_late_binding_view_cols" in lc:
            return self._columns_answer(lc)
        if "svv_relation_privileges" in lc:
            return Answer(["identity_name", "identity_type", "privilege_type"], [1043] * 3)
        if re.search(r"\bas failures\b", lc) and "should_error" in lc:
            return Answer(["failures", "should_warn", "should_error"], [20, 16, 16], [(0, False, False)])
        if "where false limit 0" in lc and isinstance(parsed, exp.Query):
            columns = self._select_columns(parsed, node_id)
            return Answer([c.name for c in columns], [c.info()[1] for c in columns])
        return self._apply(parsed, lc, node_id)

    def _columns_answer(self, lc: str) -> Answer:
        table = re.search(r"where table_name = '([^']*)'", lc).group(1)  # type: ignore[union-attr]
        schema_match = re.search(r"where table_schema = '([^']*)'", lc)
        schema = schema_match.group(1) if schema_match else None
        rel = self.relations.get((schema, table))
        if rel is None and schema is None:
            rel = next((r for (s, n), r in self.relations.items() if n == table), None)
        rows = []
        for c in rel.columns if rel else []:
            name, _, length, precision, scale = c.info()
            rows.append((c.name, name, length, precision, scale))
        names = ["column_name", "data_type", "character_maximum_length", "numeric_precision", "numeric_scale"]
        return Answer(names, [1043, 1043, 23, 23, 23], rows)

    def _apply(self, parsed: exp.Expression | None, lc: str, node_id: str) -> Answer:
        if isinstance(parsed, exp.Create):
            kind = str(parsed.args.get("kind") or "").upper()
            target = parsed.this.this if isinstance(parsed.this, exp.Schema) else parsed.this
            if kind == "SCHEMA":  # sqlglot reads `create schema "s"` as a table whose db is s
                self.schemas.add(_name(target.args.get("db")) or _name(target) or "")
            elif kind in ("TABLE", "VIEW") and isinstance(target, exp.Table):
                columns: list[Column]
                if isinstance(parsed.this, exp.Schema):
                    columns = [
                        Column(d.name.lower(), d.args["kind"].sql("redshift"))
                        for d in parsed.this.expressions
                        if isinstance(d, exp.ColumnDef) and d.args.get("kind") is not None
                    ]
                elif parsed.expression is not None:
                    columns = self._select_columns(parsed.expression, node_id)
                else:
                    columns = []
                self.relations[_key(target)] = Relation("view" if kind == "VIEW" else "table", columns)
            return Answer()
        if isinstance(parsed, exp.Drop):
            kind = str(parsed.args.get("kind") or "").upper()
            if kind == "SCHEMA":
                self.schemas.discard(_name(parsed.this.args.get("db")) or _name(parsed.this) or "")
            elif isinstance(parsed.this, exp.Table):
                self.relations.pop(_key(parsed.this), None)
            return Answer()
        if isinstance(parsed, exp.Alter) and isinstance(parsed.this, exp.Table):
            for action in parsed.args.get("actions") or []:
                if isinstance(action, exp.AlterRename):
                    old = _key(parsed.this)
                    if old in self.relations:
                        self.relations[(old[0], action.this.name.lower())] = self.relations.pop(old)
            return Answer()
        if isinstance(parsed, exp.Insert | exp.Delete | exp.Update):
            return Answer(rowcount=1)
        if isinstance(parsed, exp.Query):
            return self._query_answer(parsed, node_id)
        return Answer()

    def _query_answer(self, parsed: exp.Query, node_id: str) -> Answer:
        columns = self._select_columns(parsed, node_id)
        names, oids = [c.name for c in columns], [c.info()[1] for c in columns]
        selects = parsed.selects if isinstance(parsed, exp.Select) else []
        if selects and all(isinstance(p.unalias(), exp.Max | exp.Min | exp.CurrentTimestamp) for p in selects):
            # a watermark (select max(...)), or a source's freshness (max(loaded_at), getdate())
            return Answer(names, [1114] * len(selects), [tuple(WATERMARK for _ in selects)])
        if selects and all(isinstance(p.unalias(), exp.Count) for p in selects):
            return Answer(names, [20] * len(selects), [tuple(0 for _ in selects)])
        if isinstance(parsed, exp.Select) and parsed.args.get("distinct") is not None and len(selects) == 1:
            return Answer(names, [1082], [(CHANGED_DATE,)])
        return Answer(names, oids)

    def _schema(self) -> dict[str, dict[str, dict[str, str]]]:
        schema: dict[str, dict[str, dict[str, str]]] = {}
        for (s, name), rel in self.relations.items():
            if s is not None:
                schema.setdefault(s, {})[name] = {c.name: c.data_type for c in rel.columns} or {"_": "int"}
        return schema

    def _select_columns(self, query: exp.Expression, node_id: str) -> list[Column]:
        """Output columns of a query: names from the query, types from the node's contract or sqlglot's inference."""
        from sqlglot.optimizer.annotate_types import annotate_types
        from sqlglot.optimizer.qualify import qualify

        contract = self.contracts.get(node_id, {})
        schema = {DATABASE: self._schema()}
        query = query.copy()
        if isinstance(query, exp.Subquery):
            query = query.unnest()
        try:
            typed = annotate_types(
                qualify(query, schema=schema, dialect="redshift", validate_qualify_columns=False, catalog=DATABASE),
                schema=schema,
                dialect="redshift",
            )
            selects = typed.selects
        except (OptimizeError, ParseError, ValueError, KeyError, AttributeError):
            selects = query.selects if isinstance(query, exp.Query) else []
        columns = []
        for projection in selects:
            name = projection.alias_or_name.lower()
            inferred = (
                projection.type.sql("redshift")
                if projection.type and not projection.type.is_type("unknown")
                else "varchar"
            )
            columns.append(Column(name, contract.get(name) or inferred))
        return columns


class _Cursor:
    def __init__(self, server: FakeRedshift, connection: _Connection) -> None:
        self.server = server
        self.connection = connection
        self.description: list[tuple[Any, ...]] | None = None
        self.rowcount = -1
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Any = None) -> _Cursor:
        answer = self.server.run(sql, params, self.connection)
        self.description = [
            (n, o, None, None, None, None, True) for n, o in zip(answer.names, answer.oids, strict=False)
        ] or None
        self._rows = list(answer.rows)
        self.rowcount = answer.rowcount if answer.rowcount >= 0 else len(answer.rows)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        size = len(self._rows) if size is None else size
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def close(self) -> None:
        pass

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _Connection:
    def __init__(self, server: FakeRedshift) -> None:
        self.server = server
        self.autocommit = False
        self.node_id = ""

    def cursor(self) -> _Cursor:
        return _Cursor(self.server, self)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def _parse(text: str) -> exp.Expression | None:
    try:
        trees = sqlglot.parse(text, read="redshift")
    except (ParseError, TokenError):
        return None
    return trees[0] if trees else None


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return "'" + value.isoformat(sep=" ") + "'" if isinstance(value, dt.datetime) else f"'{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return "array[" + ", ".join(_literal(v) for v in value) + "]"  # what a list adapts to: a PostgreSQL array
    return "'" + str(value).replace("'", "''") + "'"


def _bind(sql: str, params: Any) -> str:
    """The statement with its bind parameters written in as literals (%s / %(name)s; %% is %)."""
    if not params:
        return sql
    if isinstance(params, dict):
        out = re.sub(r"%\((\w+)\)s", lambda m: _literal(params[m.group(1)]), sql)
    else:
        values = iter(params)
        out = re.sub(r"%s", lambda m: _literal(next(values)), sql)
    return out.replace("%%", "%")


def _dbt_source(node_id: str, parsed: exp.Expression | None, lc: str) -> str:
    kind = node_id.split(".", 1)[0] if node_id else ""
    if kind == "model":
        # the model's own query: a create ... as (query), or the insert (query) into a contracted table;
        # not the incremental merge, which reads the temporary relation the model's query went into
        source_query = parsed.expression if isinstance(parsed, exp.Create | exp.Insert) else None
        builds_model = isinstance(source_query, exp.Query | exp.Subquery) and "__dbt_tmp" not in source_query.sql()
        return "dbt models" if builds_model else "dbt materializations"
    return {
        "seed": "dbt seeds",
        "test": "dbt tests",
        "unit_test": "dbt unit tests",
        "operation": "dbt hooks",
        "source": "dbt source freshness",
    }.get(kind, "dbt adapter")


# --------------------------------------------------------------------------- dbt


def _contracts(manifest: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for node_id, node in manifest["nodes"].items():
        types = {name.lower(): c["data_type"] for name, c in node.get("columns", {}).items() if c.get("data_type")}
        if types:
            out[node_id] = types
    return out


def _raw_relations() -> dict[tuple[str | None, str], Relation]:
    from contracts.warehouse import COLUMNS, RAW_SCHEMA, RAW_TABLE

    return {(RAW_SCHEMA, RAW_TABLE): Relation("table", [Column(c.name, c.sql_type) for c in COLUMNS])}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def capture_dbt(workdir: Path) -> list[dict[str, Any]]:
    """dbt build (empty warehouse, then incremental), dbt source freshness: every statement sent; the analyses."""
    from dbt.cli.main import dbtRunner

    env = {
        # as BuildMarts sets them for the redshift target (lambdas/build_marts/handler.py)
        "MTX_ANALYSTS_ROLE": "role:mtx_analysts",
        "MTX_DBT_SCHEMA": "analytics",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        "DBT_USE_COLORS": "false",
    }
    common = ["--quiet", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target", "redshift"]
    common += ["--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")]
    server = FakeRedshift({}, _raw_relations())

    def on_event(event: Any) -> None:
        # project hooks (on-run-end) run without a node: their statements are told by these events
        if event.info.name == "LogHookStartLine":
            server.in_hook = True
        elif event.info.name == "LogHookEndLine":
            server.in_hook = False

    cwd = os.getcwd()
    with _environment(env):
        try:
            parsed = dbtRunner().invoke(["parse", *common])
            if not parsed.success:
                raise RuntimeError(f"dbt parse --target redshift failed: {parsed.exception}")
            manifest = json.loads((workdir / "target" / "manifest.json").read_text())
            server.contracts = _contracts(manifest)
            # the parsed manifest is handed to every later command: parsed once, not per command
            runner = dbtRunner(manifest=parsed.result, callbacks=[on_event])
            with mock.patch("redshift_connector.connect", server.connect):
                for phase, args in (
                    ("build, empty warehouse", ["build"]),
                    ("build, incremental", ["build"]),
                    ("source freshness", ["source", "freshness"]),
                ):
                    server.phase = phase
                    result = runner.invoke([*args, *common])
                    if not result.success:
                        raise RuntimeError(f"dbt {' '.join(args)} against the recording stand-in failed ({phase})")
                # the analysts' example queries (analyses/): compiled, not sent by dbt; analysts run them
                compiled = runner.invoke(["compile", "--select", "resource_type:analysis", *common])
                if not compiled.success:
                    raise RuntimeError("dbt compile of the analyses against the recording stand-in failed")
        finally:
            os.chdir(cwd)
    analyses = sorted((workdir / "target" / "compiled" / "mtx" / "analyses").glob("*.sql"))
    if not analyses:
        raise RuntimeError("dbt compiled no analysis")
    for path in analyses:
        sql = path.read_text(encoding="utf-8")
        server.records.append(
            {"source": "dbt analyses", "origin": f"analysis.mtx.{path.stem}", "phase": "compile", "sql": sql}
        )
    return server.records


# --------------------------------------------------------------------------- Glue load, analytics API, migrations


class _RecordingCursor:
    """A psycopg-like cursor (and connection) that records statements; answers with canned rows."""

    def __init__(self, records: list[dict[str, Any]], source: str, origin: str, answers: dict[str, list[Any]]):
        self.records, self.source, self.origin, self.answers = records, source, origin, answers
        self.rowcount = 0
        self._rows: list[Any] = []

    def _record(self, query: Any, params: Any) -> None:
        from psycopg import sql as psql

        text = (
            query.as_string(None)
            if isinstance(query, psql.Composable)
            else (query.decode() if isinstance(query, bytes) else query)
        )
        text = _bind(text, params)
        self.records.append({"source": self.source, "origin": self.origin, "phase": "", "sql": text})
        lc = " ".join(text.lower().split())
        self._rows = next((list(rows) for key, rows in self.answers.items() if key in lc), [])
        self.rowcount = len(self._rows) or 1

    def execute(self, query: Any, params: Any = None, **_: Any) -> _RecordingCursor:
        self._record(query, params)
        return self

    def executemany(self, query: Any, params_seq: Any) -> None:
        for params in params_seq:
            self._record(query, params)

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def cursor(self, **_: Any) -> _RecordingCursor:
        return self

    read_only = False
    closed = False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        # what psycopg sends for a transaction block (autocommit connections and nested blocks aside)
        if self.read_only:
            self._record("begin read only", None)
        yield

    def __enter__(self) -> _RecordingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def capture_glue() -> list[dict[str, Any]]:
    from glue_jobs.flatten_transactions import load, run

    records: list[dict[str, Any]] = []
    partitions = ["2026-11-01", "2026-11-02"]
    answers = {"to_char(source_partition": [(partitions[0], 2), (partitions[1], 1)], "select count(*) from": [(3,)]}
    conn = _RecordingCursor(records, "glue load", "glue_jobs/flatten_transactions/load.py", answers)
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
    result = run.JobResult("mtx-flatten", "run-1", started, status="succeeded", finished_at=started)
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
        yield _RecordingCursor(records, source, current["origin"], answers | {"transaction_count": [{"n": 3}]})

    with (
        mock.patch.object(warehouse, "connection", connection),
        mock.patch.object(operations, "dead_letter_depth", lambda name: 0),
        warehouse.overridden(
            warehouse_secret_id=WAREHOUSE_SECRET, compliance_secret_id=COMPLIANCE_SECRET, dead_letter_queue_name="dlq"
        ),
    ):
        for name, params in _operation_params(models):
            current["origin"] = f"lambdas/analytics_api/operations.py {name}"
            operations.run(name, params)
    return [r for r in records if r["source"] == "analytics api"]


def _operation_params(models: Any) -> list[tuple[str, Any]]:
    """Every operation with its default parameters, and the variants that change the SQL."""
    out: list[tuple[str, Any]] = []
    for name in models.OPERATIONS:
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
    conn = _RecordingCursor(records, "migrations", "lambdas/migrate_databases/roles.py", {"from pg_namespace": [(1,)]})
    passwords = {roles.WAREHOUSE_TRANSFORMER: "x", roles.WAREHOUSE_READER: "y"}
    with mock.patch.object(roles, "_hashed", lambda conn, role, password, engine: "md5" + "0" * 32):
        roles.provision_warehouse(conn, "analytics", passwords, "redshift")  # type: ignore[arg-type]
        roles.prepare_warehouse(conn, raw_table_ddl(engine="redshift"))  # type: ignore[arg-type]
    return records


def capture_data_checks() -> list[dict[str, Any]]:
    """The data checks' own warehouse SQL (expectations/checkpoint.py): the reconciliation totals, the tables
    a suite needs. (The expectations' queries themselves are Great Expectations' SQLAlchemy SQL: not captured.)"""
    from expectations import checkpoint

    records: list[dict[str, Any]] = []
    origin = "expectations/checkpoint.py"
    answers = {
        "sum(price_amount)": [(3, 30)],
        "sum(amount)": [(3, 30, 25)],
        "sum(transaction_count)": [(3, 25)],
        "information_schema.tables": [("fct_transactions",)],
    }
    warehouse = _RecordingCursor(records, "data checks", origin, answers)
    compliance = _RecordingCursor([], "compliance store (not Redshift)", origin, {"select": [(3,)]})

    def connect(dsn: str, **_: Any) -> _RecordingCursor:
        return warehouse if dsn == "capture-warehouse" else compliance

    with mock.patch("psycopg.connect", connect):
        checkpoint.reconciliation_frame("capture-warehouse", "capture-compliance", 0)
        checkpoint._existing_tables("capture-warehouse", "analytics", ["fct_transactions", "dim_players"])
    return records


# --------------------------------------------------------------------------- main


def capture_all(out_dir: Path) -> Counter[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mtx-redshift-capture-") as tmp:
        records = capture_dbt(Path(tmp))
    records += capture_glue() + capture_analytics_api() + capture_migrations() + capture_data_checks()
    by_source: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_source.setdefault(record["source"], []).append(record)
    for old in out_dir.glob("*.jsonl"):
        old.unlink()
    for source, items in by_source.items():
        path = out_dir / (re.sub(r"\W+", "_", source).strip("_") + ".jsonl")
        path.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    return Counter({source: len(items) for source, items in by_source.items()})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.splitlines()[0], "\nusage: redshift_capture.py OUT_DIR", file=sys.stderr)
        return 2
    counts = capture_all(Path(args[0]))
    for source, count in sorted(counts.items()):
        print(f"  {source:<24} {count:>5} statement(s) captured")
    print(f"captured {sum(counts.values())} statement(s) for Redshift into {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
