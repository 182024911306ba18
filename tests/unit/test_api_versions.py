"""The pure parts of status updates on the API path: the analytics keys of each version, the refusal's text,
the message key a dead letter is redriven under, what the sweeper counts as an analytics copy of a message, and
the workflow's shape (the compliance write before the analytics copy, its output free of the record)."""

from __future__ import annotations

import json

import pytest

from contracts.lifecycle import IMMUTABLE_FIELD, MOVE_NOT_ALLOWED, immutable_refusal_text, move_refusal_text
from lambdas.common.errors import LifecycleMoveRefused, stable_error
from lambdas.store_analytics.handler import s3_key
from lambdas.store_compliance.handler import UPDATE_SQL
from lambdas.sweep_pending.handler import copy_covers
from lambdas.validate_transaction.handler import validate
from orchestration.cli.dlq import DeadLetter, letter_message_key
from orchestration.runtime.sfn import STATE_MACHINES_DIR
from tests.helpers import seed_tx

pytestmark = pytest.mark.unit


def test_version_one_keeps_its_key_and_later_versions_get_their_own() -> None:
    assert s3_key("2025-02-09", "tx:1") == "transactions/dt=2025-02-09/tx%3A1.json"
    assert s3_key("2025-02-09", "tx:1", 1) == s3_key("2025-02-09", "tx:1")
    assert s3_key("2025-02-09", "tx:1", 3) == "transactions/dt=2025-02-09/tx%3A1.v3.json"


def test_a_refusal_names_the_field_and_the_rule_and_stays_what_it_is() -> None:
    moved = LifecycleMoveRefused("transaction_status", MOVE_NOT_ALLOWED, move_refusal_text())
    assert str(moved).startswith("transaction_status: ") and str(moved).endswith("[lifecycle.move_not_allowed]")
    path = "item_purchased.price.amount"
    changed = LifecycleMoveRefused(path, IMMUTABLE_FIELD, immutable_refusal_text(path))
    assert (changed.field, changed.rule) == (path, "lifecycle.immutable_field")
    assert str(changed).startswith(f"{path}: ") and str(changed).endswith("[lifecycle.immutable_field]")
    assert stable_error(changed) is changed  # leaves the handler under its own name (the Catch matches it)


def test_the_update_takes_every_written_column_from_the_message_and_moves_one_version_up() -> None:
    assert "version = version + 1" in UPDATE_SQL and "previous_status = transaction_status" in UPDATE_SQL
    assert "transaction_id = %(transaction_id)s" in UPDATE_SQL.split("where", 1)[1]
    assert "transaction_id =" not in UPDATE_SQL.split("where", 1)[0]  # the key is never rewritten
    assert "execution_id = %(execution_id)s" in UPDATE_SQL and "raw = %(raw)s" in UPDATE_SQL


def test_validation_outputs_the_message_key() -> None:
    tx = seed_tx()
    tx["payment_details"]["transaction_status"] = "completed"
    out = validate({"transaction": tx, "received_at": "2026-11-22T00:00:00Z"})
    assert out["message_key"] == f"{tx['transactionId']}/completed"


def _letter(body: dict[str, object]) -> DeadLetter:
    tx = body.get("transaction")
    tx_id = tx.get("transactionId") if isinstance(tx, dict) else None
    return DeadLetter("m", "r", tx_id if isinstance(tx_id, str) else None, "E", "reason", body)


def test_a_dead_letter_is_redriven_under_its_message_key() -> None:
    tx = seed_tx()
    assert letter_message_key(_letter({"transaction": tx})) == f"{tx['transactionId']}/pending"
    no_status = {**tx, "payment_details": {"payment_method": "credit_card"}}
    assert letter_message_key(_letter({"transaction": no_status})) == tx["transactionId"]
    assert letter_message_key(_letter({"transaction": None})) is None


@pytest.mark.parametrize(
    ("item_status", "message_status", "covered"),
    [("pending", "pending", True), ("completed", "pending", True), ("refunded", "pending", True),
     ("pending", "completed", False), ("failed", "completed", False), ("refunded", "completed", True),
     (None, "pending", False), ("not-a-status", "pending", False), (None, None, True)],
)  # fmt: skip
def test_the_sweeper_counts_an_analytics_item_at_the_message_s_status_or_later(
    item_status: str | None, message_status: str | None, covered: bool
) -> None:
    assert copy_covers(item_status, message_status) is covered


def test_the_workflow_writes_compliance_before_analytics_and_carries_no_record_after_the_write() -> None:
    states = json.loads((STATE_MACHINES_DIR / "transaction.asl.json").read_text())["States"]
    assert "StoreTransaction" not in states and not [s for s in states.values() if s["Type"] == "Parallel"]
    chain, name = [], "EnrichTransaction"
    while name in states and states[name].get("Next"):
        name = states[name]["Next"]
        chain.append(name)
    assert chain[:4] == ["StripPII", "StoreComplianceRecord", "StoreAnalyticsRecord", "MarkCompleted"]
    store = states["StoreComplianceRecord"]
    assert store["OutputPath"] == "$.analytics" and store["ResultPath"].startswith("$.analytics.")
    assert "transaction.$" not in json.dumps(states["StripPII"]["ResultSelector"])
    assert states["StoreAnalyticsRecord"]["Parameters"]["Payload"]["stored.$"] == "$.stored"
    for key in ("RegisterTransaction",):
        assert states[key]["Parameters"]["Item"]["transaction_id"] == {"S.$": "$.message_key"}
    for key in ("MarkCompleted", "MarkFailed", "MarkStoredElsewhere"):
        assert states[key]["Parameters"]["Key"]["transaction_id"] == {"S.$": "$.message_key"}, key
    harmless = next(c for c in store["Catch"] if "StaleVersion" in c["ErrorEquals"])
    assert (
        set(harmless["ErrorEquals"]) == {"AlreadyStored", "StaleVersion"} and harmless["Next"] == "MarkStoredElsewhere"
    )
