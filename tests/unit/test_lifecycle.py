"""The lifecycle of contracts/lifecycle.py: every (stored, incoming) pair has one verdict, moves are the
issue's table, and revenue deltas add up to the final status's worth whatever order versions arrive in."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.lifecycle import (
    MOVES,
    RANK,
    Revenue,
    Verdict,
    changed_immutable,
    decide,
    message_key,
    revenue,
    revenue_delta,
    split_message_key,
)
from contracts.transaction import TransactionStatus as S

pytestmark = pytest.mark.unit
MIGRATION = Path("lambdas/store_compliance/migrations/005_transaction_versions.sql")


@pytest.mark.parametrize(
    ("stored", "incoming", "verdict"),
    [
        (None, "refunded", Verdict.NEW),
        ("pending", "completed", Verdict.APPLY),
        ("pending", "failed", Verdict.APPLY),
        ("completed", "refunded", Verdict.APPLY),
        ("completed", "chargeback", Verdict.APPLY),
        ("completed", "completed", Verdict.DUPLICATE),
        ("completed", "pending", Verdict.STALE),
        ("refunded", "completed", Verdict.STALE),
        ("chargeback", "pending", Verdict.STALE),
        ("failed", "pending", Verdict.STALE),
        ("failed", "completed", Verdict.ILLEGAL),
        ("refunded", "chargeback", Verdict.ILLEGAL),
        ("pending", "refunded", Verdict.ILLEGAL),
        ("failed", "refunded", Verdict.ILLEGAL),
    ],
)
def test_verdicts(stored: str | None, incoming: str, verdict: Verdict) -> None:
    assert decide(stored, incoming) is verdict


def test_the_migration_declares_the_same_moves() -> None:
    text = MIGRATION.read_text()
    declared = set(re.findall(r"\('([a-z]+)', '([a-z]+)'\)", text.split("insert into compliance.lifecycle_moves")[1]))
    assert declared == {(a.value, b.value) for a, nxt in MOVES.items() for b in nxt}


def test_ranks_order_every_move() -> None:
    for src, nxt in MOVES.items():
        for dst in nxt:
            assert RANK[dst] > RANK[src]


@given(st.permutations([S.PENDING, S.COMPLETED, S.REFUNDED]), st.decimals(min_value=0, max_value=10**6, places=4))
def test_revenue_is_counted_once_whatever_the_order(order: list[S], amount: Decimal) -> None:
    stored: str | None = None
    total = Revenue()
    for status in order:
        verdict = decide(stored, status)
        if verdict in (Verdict.NEW, Verdict.APPLY):
            total = total + revenue_delta(stored, status, amount)
            stored = status
    assert total == revenue(stored, amount)


def test_revenue_values() -> None:
    a = Decimal("9.99")
    assert revenue("pending", a).is_zero()
    assert revenue("completed", a) == Revenue(1, a, Decimal(0), a)
    assert revenue("chargeback", a) == Revenue(1, a, a, Decimal(0))
    assert revenue_delta("completed", "refunded", a) == Revenue(0, Decimal(0), a, -a)


def test_immutable_fields() -> None:
    base = {"user_id": "u", "item_purchased": {"price": {"amount": 10, "currency": "USD"}}}
    same = {"user_id": "u", "item_purchased": {"price": {"amount": Decimal("10.00"), "currency": "USD"}}}
    assert changed_immutable(base, same) is None
    moved = {"user_id": "u", "item_purchased": {"price": {"amount": 11, "currency": "USD"}}}
    assert changed_immutable(base, moved) == "item_purchased.price.amount"


@pytest.mark.parametrize(("tx_id", "status"), list(itertools.product(["1", "a:b.c-d_e"], ["pending", "refunded"])))
def test_message_keys_split_one_way(tx_id: str, status: str) -> None:
    assert split_message_key(message_key(tx_id, status)) == (tx_id, status)
    assert split_message_key(tx_id) == (tx_id, None)
