"""The analytics API as plain functions over a parsed request: (status, JSON body) out.

Routes (API Gateway resources): GET /health, GET /analytics, POST /analytics/jobs,
GET /analytics/jobs/{jobId}. Every error is ``{"error": <code>, "message": <sentence>}``.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from contracts.acceptance import shown_key
from contracts.config import Settings, get_settings
from contracts.errors import FieldError
from contracts.timestamps import now_iso
from contracts.validation import JsonRefused, read_json
from lambdas.analytics_api import cache, jobs, models, operations, warehouse
from lambdas.analytics_api.errors import (
    ApiError,
    InvalidJson,
    InvalidParameters,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from lambdas.common.aws import client
from lambdas.common.errors import DatabaseUnavailable
from lambdas.common.logging import get_logger

logger = get_logger("analytics-api")

MAX_BODY = 64 * 1024

#: (method, resource) of every route this function answers.
ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/health"),
    ("GET", "/analytics"),
    ("POST", "/analytics/jobs"),
    ("GET", "/analytics/jobs/{jobId}"),
)


@dataclass(frozen=True)
class Request:
    method: str
    resource: str
    path_parameters: dict[str, str] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)
    body: str | bytes | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Request:
        """An API Gateway REST (proxy integration) event. A body API Gateway passed base64-encoded (it could
        not treat it as text) stays bytes: the JSON reading rules refuse what is not UTF-8, by name."""
        multi = event.get("multiValueQueryStringParameters") or {}
        single = event.get("queryStringParameters") or {}
        query = {k: list(v) for k, v in multi.items()} or {k: [v] for k, v in single.items()}
        body = event.get("body")
        if body is not None and event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                body = b"\xff"  # not base64 either: unreadable bytes, refused as not UTF-8
        return cls(
            method=str(event.get("httpMethod", "GET")).upper(),
            resource=str(event.get("resource") or event.get("path") or "/"),
            path_parameters=dict(event.get("pathParameters") or {}),
            query=query,
            body=body,
        )


Response = tuple[int, dict[str, Any]]


# --- GET /health ---------------------------------------------------------------------------
def health(settings: Settings) -> Response:
    cfg = warehouse.config()
    deps: dict[str, dict[str, Any]] = {}

    def check(name: str, probe: Any) -> None:
        t0 = time.monotonic()
        try:
            detail = probe() or {}
            deps[name] = {"status": "ok", **detail}
        except (DatabaseUnavailable, ApiError, BotoCoreError, ClientError) as exc:
            deps[name] = {"status": "unavailable", "error": type(exc).__name__}
        deps[name]["latency_ms"] = round((time.monotonic() - t0) * 1000, 1)

    check("warehouse", lambda: warehouse.ping(cfg.warehouse_secret_id))

    def cache_table() -> dict[str, Any]:
        table = client("dynamodb").describe_table(TableName=settings.analytics_cache_table)["Table"]
        return {"table_status": table["TableStatus"]}

    def jobs_table() -> dict[str, Any]:
        table = client("dynamodb").describe_table(TableName=settings.analytics_jobs_table)["Table"]
        return {"table_status": table["TableStatus"]}

    check("cache_table", cache_table)
    check("jobs_table", jobs_table)
    healthy = all(d["status"] == "ok" for d in deps.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "checked_at": now_iso(), "dependencies": deps}
    if healthy:
        return 200, body
    down = ", ".join(name for name, d in deps.items() if d["status"] != "ok")
    return 503, {"error": "ServiceDegraded", "message": f"unavailable: {down}", **body}


# --- GET /analytics ----------------------------------------------------------------------
def _single_values(query: dict[str, list[str]]) -> dict[str, str]:
    repeated = sorted({shown_key(k) for k, v in query.items() if len(v) != 1})[:20]
    if repeated:
        raise InvalidParameters(
            f"parameter(s) given more than once: {', '.join(repeated)}",
            **models.with_fields([models.problem(k, "parameter.repeated", "given more than once") for k in repeated]),
        )
    return {k: v[0] for k, v in query.items()}


def analytics(settings: Settings, query: dict[str, list[str]]) -> Response:
    values = _single_values(query)
    models.reject_sql(values)
    operation = values.pop("operation", None)
    name, params = models.parse_operation(operation, values)
    normal = models.normalised(params)
    key = cache.cache_key(name, normal)
    hit = cache.get(settings.analytics_cache_table, key)
    if hit is not None:
        return 200, {
            "operation": name, "parameters": normal, "cached": True, "generated_at": hit["cached_at"],
            "expires_at": hit["expires_at"], "result": hit["result"],
        }  # fmt: skip
    try:
        result = operations.run(name, params)
    except DatabaseUnavailable as exc:
        raise warehouse.as_unavailable(exc) from None
    generated_at = now_iso()
    expires_at = cache.put(
        settings.analytics_cache_table, key, name, normal, result, generated_at, operations.CACHE_TTL_SECONDS[name]
    )
    return 200, {
        "operation": name, "parameters": normal, "cached": False, "generated_at": generated_at,
        "expires_at": expires_at, "result": result,
    }  # fmt: skip


# --- jobs ----------------------------------------------------------------------------------
def _json_body(body: str | bytes | None) -> dict[str, Any]:
    """The job request as the pipeline reads JSON (contracts.validation.read_json: UTF-8, no BOM, depth,
    no duplicate key, exact numbers), at most MAX_BODY bytes; an object."""
    try:
        data = read_json(body or b"", max_bytes=MAX_BODY)
    except JsonRefused as exc:
        if any(e.rule == "body.too_large" for e in exc.errors):
            raise PayloadTooLarge(f"body over {MAX_BODY} bytes", fields=_fields(exc.errors)) from None
        reasons = "; ".join(str(e) for e in exc.errors)
        raise InvalidJson(f"the body is not valid JSON: {reasons}", fields=_fields(exc.errors)) from None
    if not isinstance(data, dict):
        raise InvalidJson(
            'the body must be a JSON object: {"operation": ..., "parameters": {...}}',
            fields=[{"field": "$", "rule": "json.not_object", "reason": "must be a JSON object"}],
        )
    return data


def _fields(errors: list[FieldError]) -> list[dict[str, str]]:
    return [{"field": e.field, "rule": e.rule, "reason": e.reason} for e in errors]


def submit_job(settings: Settings, body: str | bytes | None) -> Response:
    data = _json_body(body)
    try:
        request = models.JobRequest.model_validate(data)
    except ValidationError as exc:
        problems = [
            models.problem(
                ".".join(str(p) for p in e["loc"]) or "body",
                "parameter.unknown" if e["type"] == "extra_forbidden" else "parameter.invalid",
                "is not a field of a job request" if e["type"] == "extra_forbidden" else e["msg"],
            )
            for e in exc.errors(include_url=False, include_input=False)
        ]
        names = ", ".join(sorted({p["name"] for p in problems})[:20])
        raise InvalidParameters(f"invalid job request: {names}", **models.with_fields(problems)) from None
    models.reject_sql({"operation": request.operation, **request.parameters})
    name, params = models.parse_operation(request.operation, request.parameters)
    return 202, jobs.submit(settings, name, models.normalised(params))


def get_job(settings: Settings, job_id: str) -> Response:
    return 200, jobs.describe(settings, job_id)


# --- routing -------------------------------------------------------------------------------
def route(request: Request, settings: Settings | None = None) -> Response:
    s = settings or get_settings()
    try:
        allowed = [m for m, r in ROUTES if r == request.resource]
        if not allowed:
            raise NotFound(
                "no route at this path", fields=[{"field": "path", "rule": "http.route", "reason": "no route here"}]
            )
        if request.method not in allowed:
            raise MethodNotAllowed(
                f"{request.method[:16]} is not allowed here",
                fields=[{"field": "method", "rule": "http.method", "reason": "not a method of this path"}],
                allowed=allowed,
            )
        match (request.method, request.resource):
            case ("GET", "/health"):
                return health(s)
            case ("GET", "/analytics"):
                return analytics(s, request.query)
            case ("POST", "/analytics/jobs"):
                return submit_job(s, request.body)
            case _:
                return get_job(s, request.path_parameters.get("jobId", ""))
    except ApiError as exc:
        if exc.status >= 500:
            logger.warning("request failed", extra={"error": exc.code})
        return exc.status, exc.body()
    except Exception:  # the client gets a stable error, the log the detail
        logger.exception("unhandled error")
        return 500, {"error": "InternalError", "message": "internal error"}
