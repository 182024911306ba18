"""Poison isolation (lambdas/common/poison.py), the algorithm alone: a loader that applies a part all or nothing
and refuses any part holding a poison item, as a savepointed COPY + merge does (no servers).

The end-to-end proof, with the real PostgreSQL refusing real records through the real batch state machine,
is tests/integration/test_batch_poison.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.common.poison import ROW_BY_ROW_BELOW, Refusal, TooManyRefused, isolate, refusal

pytestmark = pytest.mark.unit


class Refused(Exception):
    pass


class Table:
    """Rows committed part by part; a part holding a poison item raises and commits nothing."""

    def __init__(self, poison: set[int]) -> None:
        self.poison = poison
        self.rows: Counter[int] = Counter()
        self.loads = 0

    def load(self, part: Sequence[int]) -> None:
        self.loads += 1
        if any(i in self.poison for i in part):
            raise Refused
        self.rows.update(part)


def why(exc: BaseException) -> str | None:
    return "refused" if isinstance(exc, Refused) else None


@settings(max_examples=60, derandomize=True, deadline=None)
@given(size=st.integers(1, 3000), data=st.data())
def test_only_poison_items_are_left_out_and_every_other_item_is_loaded_once(size: int, data: st.DataObject) -> None:
    poison = data.draw(st.sets(st.integers(0, size - 1), max_size=12))
    table = Table(poison)
    found = isolate(range(size), table.load, why, max_refused=100, known_bad=bool(poison))
    assert [item for item, _ in found.refused] == sorted(poison)  # each alone, in the batch's order
    assert set(table.rows) == set(range(size)) - poison and set(table.rows.values()) <= {1}  # once each
    assert found.attempts == table.loads


def test_a_clean_batch_is_one_load() -> None:
    table = Table(set())
    found = isolate(list(range(50_000)), table.load, why, max_refused=100)
    assert (found.refused, found.attempts, len(table.rows)) == ([], 1, 50_000)


def test_one_poison_record_in_50000_costs_a_bisection_not_a_row_by_row_pass() -> None:
    table = Table({31_337})
    found = isolate(list(range(50_000)), table.load, why, max_refused=100, known_bad=True)
    assert found.refused == [(31_337, "refused")] and len(table.rows) == 49_999
    # halving to ROW_BY_ROW_BELOW, then row by row: about 2 loads a level and the last few rows
    assert found.attempts <= 2 * (50_000).bit_length() + ROW_BY_ROW_BELOW


def test_a_transient_error_is_raised_at_once_never_bisected() -> None:
    loads = []

    def load(part: Sequence[int]) -> None:
        loads.append(len(part))
        raise psycopg.errors.lookup("40001")("could not serialize access")

    with pytest.raises(psycopg.errors.SerializationFailure):
        isolate(list(range(1000)), load, refusal, max_refused=100)
    assert loads == [1000]
    loads.clear()
    with pytest.raises(psycopg.errors.SerializationFailure):  # nor when the batch is known to be bad
        isolate(list(range(1000)), load, refusal, max_refused=100, known_bad=True)
    assert loads == [500]


def test_a_batch_that_fails_as_a_whole_but_in_no_part_stores_everything() -> None:
    """A failure no single record causes (two records that clash only together) leaves nothing out."""
    calls = []

    def load(part: Sequence[int]) -> None:
        calls.append(list(part))
        if 3 in part and 700 in part:
            raise Refused

    found = isolate(list(range(1000)), load, why, max_refused=100, known_bad=True)
    assert found.refused == [] and sorted(i for c in calls[:2] for i in c) == list(range(1000))


def test_more_refused_than_the_limit_fails_the_batch() -> None:
    table = Table(set(range(0, 1000, 7)))
    with pytest.raises(TooManyRefused, match="more than 10 records refused"):
        isolate(list(range(1000)), table.load, why, max_refused=10, known_bad=True)


@pytest.mark.parametrize(
    ("sqlstate", "data"),
    [
        ("23514", True),  # check_violation
        ("23502", True),  # not_null_violation
        ("23505", True),  # unique_violation
        ("22P02", True),  # invalid_text_representation
        ("22003", True),  # numeric_value_out_of_range
        ("22021", True),  # character_not_in_repertoire
        ("22P05", True),  # untranslatable_character (a NUL in jsonb)
        ("08006", False),  # connection_failure
        ("57P01", False),  # admin_shutdown
        ("40001", False),  # serialization_failure
        ("40P01", False),  # deadlock_detected
        ("53300", False),  # too_many_connections
        ("57014", False),  # query_canceled (a statement timeout)
        ("42501", False),  # insufficient_privilege: the deployment, not the data
        ("42P01", False),  # undefined_table
    ],
)
def test_only_data_exceptions_and_integrity_violations_are_refusals(sqlstate: str, data: bool) -> None:
    exc = psycopg.errors.lookup(sqlstate)("the server's message quotes 4111 and 203.0.113.7")
    got = refusal(exc)
    assert (got is not None) is data
    if got is not None:
        assert got == Refusal(type(exc).__name__, sqlstate)
        assert "4111" not in got.describe() and "203.0.113.7" not in got.describe()
        assert got.describe() == f"{type(exc).__name__} (SQLSTATE {sqlstate})"
