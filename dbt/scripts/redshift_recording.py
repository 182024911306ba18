"""Recording connections for ``redshift_capture.py``: statements recorded as sent, bind parameters as literals.

:class:`RecordingConnection` stands in for a psycopg connection (and its cursor) in the
product's own Python code; :func:`bind` writes a statement's parameters into its text
(the stand-in server uses it too), so the gate sees what the server would run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any


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


def bind(sql: str, params: Any) -> str:
    """The statement with its bind parameters written in as literals (%s / %(name)s; %% is %)."""
    if not params:
        return sql
    if isinstance(params, dict):
        out = re.sub(r"%\((\w+)\)s", lambda m: _literal(params[m.group(1)]), sql)
    else:
        values = iter(params)
        out = re.sub(r"%s", lambda m: _literal(next(values)), sql)
    return out.replace("%%", "%")


class RecordingConnection:
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
        text = bind(text, params)
        self.records.append({"source": self.source, "origin": self.origin, "phase": "", "sql": text})
        lc = " ".join(text.lower().split())
        self._rows = next((list(rows) for key, rows in self.answers.items() if key in lc), [])
        self.rowcount = len(self._rows) or 1

    def execute(self, query: Any, params: Any = None, **_: Any) -> RecordingConnection:
        self._record(query, params)
        return self

    def executemany(self, query: Any, params_seq: Any) -> None:
        for params in params_seq:
            self._record(query, params)

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def cursor(self, **_: Any) -> RecordingConnection:
        return self

    read_only = False
    closed = False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        # what psycopg sends for a transaction block (autocommit connections and nested blocks aside)
        if self.read_only:
            self._record("begin read only", None)
        yield

    def __enter__(self) -> RecordingConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
