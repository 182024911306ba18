"""Poison isolation for bulk loads: find the few records a database refuses, store the rest.

A bulk load (COPY + merge) is all or nothing: one record the database refuses *on its data* (SQLSTATE
class 22, data exception: a character or a number it cannot hold; class 23, integrity constraint
violation: a CHECK, NOT NULL, foreign key) fails the whole batch. ``isolate`` bisects such a batch
(and tries rows one by one below a small size) until every refused record stands alone; every other
record is loaded, once. A transient fault (a lost connection, class 08; a shutdown, 57P; a
serialization failure or deadlock, 40; too many connections, 53) is *not* a data error: it is
re-raised at once, never bisected, and the caller's retry policy handles it.

The algorithm knows nothing of PostgreSQL: ``load(part)`` must apply all of ``part`` or nothing (a
savepoint) and raise on failure; ``refusal(exc)`` names a data error or returns None for any other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import psycopg

T = TypeVar("T")
R = TypeVar("R")

#: SQLSTATE classes that mean "this data", not "this moment": data exception, integrity constraint violation.
DATA_ERROR_CLASSES = frozenset({"22", "23"})
#: A failed part this small or smaller is tried row by row instead of halved again.
ROW_BY_ROW_BELOW = 16


@dataclass(frozen=True)
class Refusal:
    """Why the database refused a record, by names only: the driver's error class, the SQLSTATE and, when the
    server names them, the constraint and column. Never the server's message, which can quote the value."""

    error: str
    sqlstate: str
    constraint: str | None = None
    column: str | None = None

    def describe(self) -> str:
        named = [f"SQLSTATE {self.sqlstate}"]
        if self.constraint:
            named.append(f"constraint {self.constraint}")
        if self.column:
            named.append(f"column {self.column}")
        return f"{self.error} ({', '.join(named)})"


def refusal(exc: BaseException) -> Refusal | None:
    """The refusal a driver error stands for when it is about the data (class 22 or 23), else None."""
    if not isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return None
    sqlstate = exc.sqlstate or ""
    if sqlstate[:2] not in DATA_ERROR_CLASSES:
        return None
    diag = exc.diag
    return Refusal(type(exc).__name__, sqlstate, diag.constraint_name, diag.column_name)


class TooManyRefused(Exception):
    """More records refused than a batch may quarantine: the database, not the data, is most likely wrong."""

    def __init__(self, first: object, limit: int) -> None:
        named = first.describe() if isinstance(first, Refusal) else type(first).__name__
        super().__init__(f"more than {limit} records refused, the first: {named}")
        self.first = first
        self.limit = limit


@dataclass(frozen=True)
class Isolated(Generic[T, R]):
    refused: list[tuple[T, R]]  # each refused item alone, with why, in the batch's order
    attempts: int  # loads tried, the failed ones included


def isolate(
    items: Sequence[T],
    load: Callable[[Sequence[T]], None],
    refusal_of: Callable[[BaseException], R | None],
    *,
    max_refused: int,
    known_bad: bool = False,
    row_by_row_below: int = ROW_BY_ROW_BELOW,
) -> Isolated[T, R]:
    """Load ``items`` in parts so that only the items the database refuses are left out.

    ``known_bad``: the whole batch already failed on data (the caller's first attempt), so it is split at
    once. An error ``refusal_of`` does not recognise leaves at once (a transient fault is retried whole by
    the caller; what was loaded is rolled back with its transaction). More than ``max_refused`` refused
    items raise ``TooManyRefused``.
    """
    refused: list[tuple[T, R]] = []
    attempts = 0
    pending: list[Sequence[T]] = []  # a stack: the first half on top, so the batch's order is kept

    def split(part: Sequence[T]) -> None:
        if len(part) <= row_by_row_below:
            pending.extend([part[i : i + 1] for i in reversed(range(len(part)))])
        else:
            middle = len(part) // 2
            pending.extend((part[middle:], part[:middle]))

    if known_bad and len(items) > 1:
        split(items)
    elif items:
        pending.append(items)
    while pending:
        part = pending.pop()
        attempts += 1
        try:
            load(part)
            continue
        except Exception as exc:
            why = refusal_of(exc)
            if why is None:
                raise
        if len(part) > 1:
            split(part)
            continue
        refused.append((part[0], why))
        if len(refused) > max_refused:
            raise TooManyRefused(refused[0][1], max_refused)
    return Isolated(refused, attempts)
