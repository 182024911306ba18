"""StripPII: the analytics copy, with every PII-tagged field of the contract removed.

The transaction is the one ValidateTransaction output (the contract's wire form, already normalised):
it is trusted as it is, not validated or parsed again; only the PII rule is applied to it. The Enrich stage's
fields (EnrichTransaction, lambdas/common/enrich) join it here: country and region in place of the IP.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from contracts import analytics_record
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("strip-pii")
tracer = get_tracer("strip-pii")


def strip(event: dict[str, Any]) -> dict[str, Any]:
    received = event.get("received_at")
    ingested_at = dt.datetime.fromisoformat(received) if received else dt.datetime.now(dt.UTC)
    return {
        "record": analytics_record(event["transaction"], ingested_at, event.get("enrichment")),
        "transaction_id": event["transaction_id"],
        "event_date": event["event_date"],
        "producer_id": event.get("producer_id"),  # an application id, not personal data
        # what the states after the compliance write carry instead of the transaction (ids and times only)
        "message_key": event.get("message_key"),
        "received_at": received,
        "redrive_attempt": event.get("redrive_attempt", 0),
    }


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return strip(event)
