"""The bulk merge's pure parts (lambdas/process_chunk/versions.py): the immutable columns read as the wire record
``contracts.lifecycle.changed_immutable`` compares, the lifecycle order of the SQL merge and of the isolating
load. The merge itself runs against the real PostgreSQL in tests/integration/test_bulk_versions.py."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from contracts.compliance import WRITTEN
from contracts.lifecycle import IMMUTABLE_PATHS, RANK, changed_immutable
from lambdas.process_chunk import store, versions

pytestmark = pytest.mark.unit


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "transaction_id": "t1", "user_id": "u1", "game": "Game", "item_id": "i1", "item_type": "skin",
        "price_amount": Decimal("10.000"), "price_currency": "USD", "payment_method": "card",
        "event_at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "gateway": "stripe", "client_ip": "10.0.0.1",
    }  # fmt: skip
    return row | changes


def test_every_immutable_path_is_a_column() -> None:
    assert sorted(path for _, path in versions.IMMUTABLE) == sorted(IMMUTABLE_PATHS)


def test_the_columns_compare_as_wire_values() -> None:
    stored = versions._wire(_row())
    assert stored["item_purchased"]["price"] == {"amount": Decimal("10.000"), "currency": "USD"}
    assert changed_immutable(stored, versions._wire(_row(price_amount=Decimal(10)))) is None  # 10 == 10.000
    assert changed_immutable(stored, versions._wire(_row(gateway="paypal", client_ip="10.0.0.2"))) is None
    later = dt.datetime(2026, 1, 2, 8, 34, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert changed_immutable(stored, versions._wire(_row(event_at=later))) is None  # the same instant
    assert changed_immutable(stored, versions._wire(_row(price_amount=Decimal("10.01")))) == (
        "item_purchased.price.amount")  # fmt: skip
    assert changed_immutable(stored, versions._wire(_row(user_id="u2"))) == "user_id"


def test_the_merge_picks_the_lowest_rank_and_the_isolating_load_sorts_by_it() -> None:
    for status, rank in RANK.items():
        assert f"when '{status.value}' then {rank}" in versions.MERGE_FIRST
    assert "distinct on (transaction_id)" in versions.MERGE_FIRST and "distinct" not in versions.MERGE_ALL
    at = WRITTEN.index("transaction_status")

    def line(status: str) -> str:
        return "\t".join(status if i == at else "x" for i in range(len(WRITTEN)))

    assert [store._status_rank(line(s)) for s in ("refunded", "pending", "completed", "chargeback", "failed")] == [
        2, 0, 1, 2, 1]  # fmt: skip
