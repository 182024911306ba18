"""EnrichTransaction: the Enrich stage (lambdas/common/enrich) for one transaction of the workflow.

Reads the transaction ValidateTransaction output (trusted: not validated again) and the producer's application
id; returns the enriched fields, which StripPII adds to the analytics copy (country and region, never the IP).
``FxRateMissing`` is raised by name: the state machine retries it with backoff for a bounded time, then
dead-letters the transaction with that reason."""

from __future__ import annotations

from typing import Any

from lambdas.common import metrics
from lambdas.common.enrich import Purchase, enrich_one
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("enrich-transaction")
tracer = get_tracer("enrich-transaction")


def enrich(event: dict[str, Any]) -> dict[str, Any]:
    return enrich_one(Purchase.of_wire(event["transaction"]), event.get("producer_id"))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with metrics.stage("EnrichTransaction"):
        return enrich(event)
