"""ValidateTransaction: the contract's validator as a Lambda."""

from __future__ import annotations

from typing import Any

from contracts import validate_transaction
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger

logger = get_logger("validate-transaction")


def validate(event: dict[str, Any]) -> dict[str, Any]:
    tx = validate_transaction(event.get("transaction"))
    return {
        "transaction": tx.to_json_dict(),
        "transaction_id": tx.transaction_id,
        "event_date": tx.event_timestamp.date().isoformat(),
        "received_at": event.get("received_at"),
        # the application whose credential the API accepted (not part of the contract); null when unknown
        "producer_id": event.get("producer_id"),
    }


@logger.inject_lambda_context(log_event=False)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return validate(event)
