"""ValidateTransaction: the contract's validator as a Lambda."""

from __future__ import annotations

from typing import Any

from contracts import InvalidTransaction, Window, validate_transaction
from contracts.acceptance import skew_hours
from contracts.config import get_settings
from contracts.lifecycle import message_key
from lambdas.common import metrics
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("validate-transaction")
tracer = get_tracer("validate-transaction")


def _window(received_at: Any) -> Window:
    """The event times accepted: relative to when the entrance received the transaction (so a redrive
    judges it as it was judged then), with the configured future skew."""
    skew = skew_hours(get_settings().max_future_skew_hours)
    try:
        return Window.at(received_at if isinstance(received_at, str) else None, skew)
    except ValueError:  # not an ISO time: now
        return Window.at(None, skew)


def _attempt(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def validate(event: dict[str, Any]) -> dict[str, Any]:
    tx = validate_transaction(event.get("transaction"), window=_window(event.get("received_at")))
    return {
        "transaction": tx.to_json_dict(),
        "transaction_id": tx.transaction_id,
        # the key of this message (one status of the transaction) in the execution status table
        "message_key": message_key(tx.transaction_id, tx.payment_details.transaction_status.value),
        "event_date": tx.event_timestamp.date().isoformat(),
        "received_at": event.get("received_at"),
        # the application whose credential the API accepted (not part of the contract); null when unknown
        "producer_id": event.get("producer_id"),
        # how many times orchestration/cli/dlq.py redrove it (0 from the entrances): the dead letter carries it
        "redrive_attempt": _attempt(event.get("redrive_attempt")),
    }


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.emit("TransactionsReceived", 1, Entrance="api")
    with metrics.stage("ValidateTransaction"):
        try:
            return validate(event)
        except InvalidTransaction:
            metrics.rejected("api", "InvalidTransaction")
            raise
