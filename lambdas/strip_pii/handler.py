"""StripPII: the analytics copy, with every PII-tagged field of the contract removed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from contracts import to_analytics_record, validate_transaction
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger

logger = get_logger("strip-pii")


def strip(event: dict[str, Any]) -> dict[str, Any]:
    tx = validate_transaction(event["transaction"])
    received = event.get("received_at")
    ingested_at = dt.datetime.fromisoformat(received) if received else dt.datetime.now(dt.UTC)
    return {
        "record": to_analytics_record(tx, ingested_at),
        "transaction_id": tx.transaction_id,
        "event_date": tx.event_timestamp.date().isoformat(),
        "producer_id": event.get("producer_id"),  # an application id, not personal data
    }


@logger.inject_lambda_context(log_event=False)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return strip(event)
