"""The local API Gateway stand-in: ``POST /transactions`` and the analytics routes.

Every route needs a credential in the ``x-api-key`` header, as API Gateway would ask for one
(orchestration/auth.py): a producer's on ``POST /transactions``, an analyst's on the others.
The producer's application id goes into the workflow input as ``producer_id``.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from contracts import MAX_TRANSACTION_BYTES
from orchestration import sfn
from orchestration.auth import API_KEY_HEADER, ROUTE_ROLES, CredentialRegistry, Decision, credentials_table_name
from orchestration.ingest import Clients, submit
from orchestration.runtime.ports import free_port
from orchestration.settings import Settings

MAX_BODY = 256 * 1024  # API Gateway's payload limit is 10 MB; a transaction is < 2 KB

#: Resources proxied to the analytics_api Lambda (API Gateway proxy integration): (method, resource).
ANALYTICS_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/health"),
    ("GET", "/analytics"),
    ("POST", "/analytics/jobs"),
    ("GET", "/analytics/jobs/{jobId}"),
)
#: Every route the server answers; orchestration/openapi.json documents exactly these.
ROUTES: tuple[tuple[str, str], ...] = (("POST", "/transactions"), *ANALYTICS_ROUTES)
assert set(ROUTES) == set(ROUTE_ROLES), "every route needs its role (orchestration/auth.py)"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def match_resource(path: str) -> tuple[str, dict[str, str]] | None:
    """The API Gateway resource a request path falls under, with its path parameters."""
    path = path.rstrip("/") or "/"
    for resource in dict.fromkeys(r for _, r in ROUTES):
        pattern = "^" + _PARAM.sub(r"(?P<\1>[^/]+)", re.escape(resource).replace(r"\{", "{").replace(r"\}", "}")) + "$"
        found = re.match(pattern, path)
        if found:
            return resource, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


def route_of(method: str, raw_path: str) -> tuple[str, str] | None:
    """The (method, resource) a request calls, or None when no route answers it (404 or 405)."""
    matched = match_resource(urlsplit(raw_path).path)
    if matched is None or (method, matched[0]) not in ROUTE_ROLES:
        return None
    return method, matched[0]


def proxy_event(
    method: str, raw_path: str, headers: dict[str, str], body: str | None, caller: str | None = None
) -> dict[str, Any] | None:
    """The API Gateway REST proxy event for an analytics request, or None when no analytics route matches.

    The credential stays at the gateway (its header is not passed on); ``caller`` is who presented it."""
    parts = urlsplit(raw_path)
    matched = match_resource(parts.path)
    if matched is None or matched[0] not in {r for _, r in ANALYTICS_ROUTES}:
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


class ApiServer:
    def __init__(
        self,
        settings: Settings,
        clients: Clients,
        state_machine_arn: str,
        queue_url: str,
        registry: CredentialRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.registry = registry or CredentialRegistry(clients("dynamodb"), credentials_table_name(settings))
        self.state_machine_arn = state_machine_arn
        self.queue_url = queue_url
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self, method: str) -> Decision | None:
                """The caller's decision for the route it calls, once allowed; None once a 401/403/503 has been
                answered (the body left unread). A request to no route is not decided here (404/405 follow)."""
                route = route_of(method, self.path)
                if route is None:
                    return Decision(0)
                try:
                    decision = api.registry.authorize(ROUTE_ROLES[route], self.headers.get(API_KEY_HEADER))
                except Exception:  # noqa: BLE001 - the client gets a stable error, never the detail
                    self.close_connection = True
                    self._send(503, {"error": "ServiceUnavailable", "message": "could not check the credential"})
                    return None
                if decision.allowed:
                    return decision
                self.close_connection = True  # the body stays unread
                self._send(decision.status, decision.body())
                return None

            def _analytics(self, method: str, caller: str | None) -> bool:
                """Proxy an analytics route to the analytics_api Lambda; False when the path is not one."""
                if proxy_event(method, self.path, {}, None) is None:
                    return False  # not an analytics route: the caller answers (the body is unread)
                if route_of(method, self.path) is None:  # an analytics resource, not this method: as API Gateway,
                    self._not_allowed(method)  # answered here, the function is not invoked (nor authorized)
                    return True
                body: str | None = None
                if method == "POST":
                    length = self._body_length(MAX_BODY, f"body over {MAX_BODY} bytes")
                    if length is None:
                        return True
                    body = self.rfile.read(length).decode("utf-8", "replace") if length else None
                event = proxy_event(method, self.path, dict(self.headers.items()), body, caller)
                assert event is not None
                function = api.settings.function_name("analytics_api")
                response = sfn.REGISTRY.invoke(function, event)
                if response.get("FunctionError"):
                    self._send(502, {"error": "BadGateway", "message": "the analytics function failed"})
                    return True
                payload = response["Payload"]
                self._send(int(payload["statusCode"]), json.loads(payload["body"]))
                return True

            def _body_length(self, limit: int, too_large: str) -> int | None:
                """The request's Content-Length, or None once a 400 (not a number, negative) or a 413
                (over ``limit``) has been answered, the body left unread."""
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if 0 <= length <= limit:
                    return length
                self.close_connection = True  # the body stays unread
                if length < 0:
                    self._send(400, {"error": "BadRequest", "message": "invalid Content-Length"})
                else:
                    self._send(413, {"error": "PayloadTooLarge", "message": too_large})
                return None

            def _not_allowed(self, method: str) -> None:
                self.close_connection = True  # any body stays unread
                matched = match_resource(urlsplit(self.path).path)
                if matched is None:
                    self._send(404, {"error": "NotFound", "message": f"no route {method} {self.path}"})
                    return
                allowed = [m for m, r in ROUTES if r == matched[0]]
                self._send(405, {"error": "MethodNotAllowed", "message": f"{method} not allowed", "allowed": allowed})

            def do_POST(self) -> None:
                decision = self._authorized("POST")
                if decision is None:
                    return
                if self._analytics("POST", decision.principal_id):
                    return
                if self.path.rstrip("/") != "/transactions":
                    self._send(404, {"error": "NotFound", "message": f"no route POST {self.path}"})
                    return
                length = self._body_length(
                    # the contract's limit of one transaction (in AWS the WAF blocks a larger body before API
                    # Gateway starts the workflow): every state's data stays far below Step Functions' 256 KB
                    MAX_TRANSACTION_BYTES,
                    f"a transaction body is at most {MAX_TRANSACTION_BYTES} bytes",
                )
                if length is None:
                    return
                raw = self.rfile.read(length)
                try:
                    result = submit(
                        raw, settings=api.settings, clients=api.clients,
                        state_machine_arn=api.state_machine_arn, queue_url=api.queue_url,
                        producer_id=decision.principal_id,
                    )  # fmt: skip
                except Exception:  # noqa: BLE001 - the client gets a stable error, the log the detail
                    self._send(503, {"error": "ServiceUnavailable", "message": "could not start the workflow"})
                    return
                self._send(result.status, result.body)

            def do_GET(self) -> None:
                decision = self._authorized("GET")
                if decision is None:
                    return
                if self._analytics("GET", decision.principal_id):
                    return
                self._not_allowed("GET")

            def do_PUT(self) -> None:
                self._not_allowed("PUT")

            def do_PATCH(self) -> None:
                self._not_allowed("PATCH")

            def do_DELETE(self) -> None:
                self._not_allowed("DELETE")

        self.port = self.port or free_port()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mtx-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
