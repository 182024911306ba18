"""The local API's routes, as API Gateway's resources: which (method, resource) a request calls, which
need which credential (orchestration/runtime/auth.py ``ROUTE_ROLES``), and the REST proxy event the analytics
routes pass to the analytics_api Lambda."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from orchestration.runtime.auth import API_KEY_HEADER, ROUTE_ROLES

#: Resources proxied to the analytics_api Lambda (API Gateway proxy integration): (method, resource).
ANALYTICS_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/health"),
    ("GET", "/analytics"),
    ("POST", "/analytics/jobs"),
    ("GET", "/analytics/jobs/{jobId}"),
)
#: Every route that needs a credential; orchestration/openapi.json documents these and PUBLIC_ROUTES.
#: Resources proxied to the put_events Lambda (POST /events into the Kinesis stream), the producers' other route.
EVENTS_ROUTE = ("POST", "/events")
ROUTES: tuple[tuple[str, str], ...] = (("POST", "/transactions"), EVENTS_ROUTE, *ANALYTICS_ROUTES)
assert set(ROUTES) == set(ROUTE_ROLES), "every route needs its role (orchestration/runtime/auth.py)"
#: Routes open to anyone: the API's own description.
OPENAPI_PATH = "/openapi.json"
PUBLIC_ROUTES: tuple[tuple[str, str], ...] = (("GET", OPENAPI_PATH),)
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def match_resource(path: str) -> tuple[str, dict[str, str]] | None:
    """The API Gateway resource a request path falls under, with its path parameters."""
    path = path.rstrip("/") or "/"
    for resource in dict.fromkeys(r for _, r in (*ROUTES, *PUBLIC_ROUTES)):
        pattern = "^" + _PARAM.sub(r"(?P<\1>[^/]+)", re.escape(resource).replace(r"\{", "{").replace(r"\}", "}")) + "$"
        found = re.match(pattern, path)
        if found:
            return resource, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


def route_of(method: str, raw_path: str) -> tuple[str, str] | None:
    """The (method, resource) a request calls, or None when no route answers it (404 or 405)."""
    matched = match_resource(urlsplit(raw_path).path)
    if matched is None or (method, matched[0]) not in {*ROUTE_ROLES, *PUBLIC_ROUTES}:
        return None
    return method, matched[0]


def allowed_methods(resource: str) -> list[str]:
    return [m for m, r in (*ROUTES, *PUBLIC_ROUTES) if r == resource]


def proxy_event(
    method: str, raw_path: str, headers: dict[str, str], body: str | None, caller: str | None = None
) -> dict[str, Any] | None:
    """The API Gateway REST proxy event for an analytics request or POST /events, or None when no proxied
    route matches.

    The credential stays at the gateway (its header is not passed on); ``caller`` is who presented it."""
    parts = urlsplit(raw_path)
    matched = match_resource(parts.path)
    if matched is None or matched[0] not in {r for _, r in (*ANALYTICS_ROUTES, EVENTS_ROUTE)}:
        return None
    resource, path_parameters = matched
    multi = parse_qs(parts.query, keep_blank_values=True)
    return {
        "resource": resource,
        "path": parts.path,
        "httpMethod": method,
        "headers": {k: v for k, v in headers.items() if k.lower() != API_KEY_HEADER},
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": path_parameters or None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "stage": "local",
            "identity": {"caller": caller},
        },
    }
