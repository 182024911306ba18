"""analytics_api Lambda: API Gateway proxy events in, JSON responses out (a thin shell over ``app``)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.analytics_api.app import Request, route
from lambdas.common.logging import get_logger

logger = get_logger("analytics-api")

HEADERS = {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    status, body = route(Request.from_event(event))
    return {"statusCode": status, "headers": HEADERS, "body": json.dumps(body, default=str)}
