"""analytics_api Lambda: API Gateway proxy events in, JSON responses out (a thin shell over ``app``).

CORS: a browser gets ``Access-Control-Allow-Origin`` only for an origin of the allow-list
(``MTX_CORS_ALLOWED_ORIGINS``, empty by default: none), never ``*``.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from contracts.config import get_settings
from lambdas.analytics_api.app import Request, route
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("analytics-api")
tracer = get_tracer("analytics-api")

HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def response_headers(event: dict[str, Any], allowed_origins: frozenset[str]) -> dict[str, str]:
    """The response headers: CORS for an allowed origin only (it varies with the request's Origin)."""
    headers = {**HEADERS, "Vary": "Origin"} if allowed_origins else dict(HEADERS)
    origin = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "origin"), None)
    if origin and origin in allowed_origins:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    status, body = route(Request.from_event(event))
    headers = response_headers(event, get_settings().allowed_origins)
    return {"statusCode": status, "headers": headers, "body": json.dumps(body, default=str)}
