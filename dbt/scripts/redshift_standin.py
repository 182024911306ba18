"""A recording stand-in for the Amazon Redshift server behind ``redshift_connector`` (for ``redshift_capture.py``).

:class:`FakeRedshift` records every statement dbt-redshift sends and answers its introspection
(relations, columns, schemas, grants, a model's column types) from a catalogue of what those
statements created, worked out by sqlglot; data queries get plausible values (no test failures,
a timestamp watermark, one changed date) so incremental branches render. Nothing is executed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from redshift_recording import bind
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError

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
        text = bind(body, params)
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
