"""The local API Gateway stand-in: ``POST /transactions``, ``POST /events``, the analytics routes and
``GET /openapi.json``.

Every route but ``GET /openapi.json`` needs a credential in the ``x-api-key`` header, as API Gateway would
ask for one (orchestration/runtime/auth.py): a producer's on ``POST /transactions`` and ``POST /events`` (the
put_events Lambda, as API Gateway's proxy integration calls it), an analyst's on the others.
The producer's application id goes into the workflow input as ``producer_id``.

Whatever arrives, the answer is JSON (``{"error": <code>, "message": <sentence>}``) and never a 5xx for
the client's bytes, in this order:

1. a request line or headers HTTP/1.1 cannot read: 400 (414 for a line too long, 431 for headers);
2. no route at that path: ``404 NotFound``; a route, not that method (TRACE, HEAD, OPTIONS, CONNECT, PATCH,
   unknown methods ...): ``405 MethodNotAllowed`` with an ``Allow`` header (a HEAD answer has no body);
3. the credential (as API Gateway checks it before anything else of a known route): 401, 403;
4. the body's framing: ``Transfer-Encoding`` (chunked) without a length ``411 LengthRequired``, with one
   ``400``; no Content-Length on a POST ``411``; a Content-Length that is not one non-negative integer
   ``400``; over the route's limit ``413 PayloadTooLarge`` (unread); fewer bytes than announced ``400``,
   none within :data:`READ_TIMEOUT` seconds ``408``;
5. the route itself (the contract: 400 with field errors).

An answer that leaves bytes of the request unread closes the connection.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from contracts import MAX_TRANSACTION_BYTES
from orchestration.runtime import sfn
from orchestration.runtime.api_routes import (
    EVENTS_ROUTE,
    PUBLIC_ROUTES,
    allowed_methods,
    match_resource,
    proxy_event,
)  # fmt: skip
from orchestration.runtime.auth import API_KEY_HEADER, ROUTE_ROLES, CredentialRegistry, Decision, credentials_table_name
from orchestration.runtime.ingest import Clients, submit
from orchestration.runtime.ports import free_port
from orchestration.settings import Settings

MAX_BODY = 256 * 1024  # API Gateway's payload limit is 10 MB; a transaction is < 2 KB
#: POST /events: up to 500 records (put_events refuses each one over 8 KiB by name); API Gateway's limit.
MAX_EVENTS_BODY = 10 * 1024 * 1024

#: Seconds a client may take to send the rest of its request (a slow or stalled body ends in 408).
READ_TIMEOUT = 10.0
#: Reasons of the statuses the server answers by itself, as error codes.
_CODES = {
    400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 408: "RequestTimeout", 411: "LengthRequired",
    413: "PayloadTooLarge", 414: "UriTooLong", 431: "HeaderFieldsTooLarge", 500: "InternalError",
    501: "MethodNotAllowed", 503: "ServiceUnavailable",
}  # fmt: skip
_DIGITS = re.compile(r"[0-9]{1,18}")


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
        #: Seconds a client may take to send the rest of its request (then 408; the connection is closed).
        self.read_timeout = READ_TIMEOUT
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def openapi_document(self) -> bytes:
        """The committed OpenAPI document, with this server as its server."""
        from orchestration.openapi import DOCUMENT_PATH

        doc = json.loads(DOCUMENT_PATH.read_text())
        doc["servers"] = [{"url": self.url, "description": "this local API"}, *doc.get("servers", [])]
        return json.dumps(doc, indent=2).encode()

    def start(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            error_content_type = "application/json"

            def setup(self) -> None:
                super().setup()
                self.connection.settimeout(api.read_timeout)  # on every read: a stalled client ends in 408

            def log_message(self, format: str, *args: Any) -> None:
                return

            # --- answers ------------------------------------------------------------------------------
            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if self.command == "HEAD":  # a HEAD answer has no body (RFC 9110 9.3.2)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(data)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def _error(
                self,
                status: int,
                code: str,
                message: str,
                rule: tuple[str, str] | None = None,
                headers: dict[str, str] | None = None,
                **extra: Any,
            ) -> None:
                """An error in the API's shape; ``rule``: (field, rule code) of contracts.acceptance.HTTP_RULES."""
                body: dict[str, Any] = {"error": code, "message": message, **extra}
                if rule is not None:
                    body["fields"] = [{"field": rule[0], "rule": rule[1], "reason": message}]
                self._send(status, body, headers)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """http.server's own refusals (a request line or headers it cannot read, ...), as JSON."""
                self.close_connection = True
                status = HTTPStatus(code)
                sentence = {
                    400: "the request line or its headers are not HTTP/1.1",
                    408: f"the request did not arrive within {api.read_timeout:g} seconds",
                    414: "the request line is too long",
                    431: "too many or too long header fields",
                    505: "unsupported HTTP version: send HTTP/1.1",
                }.get(code, status.phrase)
                self.command = getattr(self, "command", None) or ""
                if getattr(self, "request_version", "HTTP/0.9") in ("", "HTTP/0.9"):
                    self.request_version = "HTTP/1.1"  # an answer with a status line and headers, whatever came
                # the client's bytes never get a 5xx: an unknown method is a 405, an HTTP version other than 1.x
                # a 400 (http.server would answer 501 and 505); anything else it raises is the client's too
                code = {501: 405, 505: 400}.get(code, code if code < 500 else 400)
                self._error(
                    code, _CODES.get(code, status.phrase.replace(" ", "")), sentence, ("request", "http.request")
                )

            # --- one request, whatever its method --------------------------------------------------------
            def handle_one_request(self) -> None:
                try:
                    self.raw_requestline = self.rfile.readline(65537)
                    if len(self.raw_requestline) > 65536:
                        self.requestline = self.request_version = self.command = ""
                        self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                        return
                    if not self.raw_requestline:
                        self.close_connection = True
                        return
                    if not self.parse_request():  # it answered (JSON, through send_error)
                        return
                    if self.request_version == "HTTP/0.9":  # a bare "GET /path": answered as HTTP/1.1
                        self.send_error(HTTPStatus.BAD_REQUEST)
                        return
                    self._request()
                    self.wfile.flush()
                except TimeoutError:  # a request begun and not finished in time (headers): 408, then close
                    self.close_connection = True
                    if self.raw_requestline:
                        with contextlib.suppress(OSError):
                            self.send_error(HTTPStatus.REQUEST_TIMEOUT)
                except (ConnectionError, BrokenPipeError):
                    self.close_connection = True
                except Exception:  # noqa: BLE001 - a bug, not the bytes: still a JSON answer, never a dropped connection
                    self.close_connection = True
                    with contextlib.suppress(Exception):
                        self._error(500, "InternalError", "internal error")

            def _request(self) -> None:
                method = self.command
                try:
                    path = urlsplit(self.path).path
                except ValueError:  # e.g. "//[x": not a URL (an unclosed IPv6 literal)
                    self.close_connection = True
                    self._error(400, "BadRequest", "the request target is not a URL path", ("request", "http.request"))
                    return
                matched = match_resource(path)
                if matched is None:
                    self.close_connection = self._has_body()
                    self._error(404, "NotFound", "no route at this path", ("path", "http.route"))
                    return
                resource = matched[0]
                if (method, resource) not in {*ROUTE_ROLES, *PUBLIC_ROUTES}:
                    self.close_connection = self._has_body() or method not in ("GET", "POST", "PUT", "DELETE")
                    allowed = allowed_methods(resource)
                    rule = ("method", "http.method")
                    self._error(405, "MethodNotAllowed", f"{method[:16]} is not allowed here", rule,
                                headers={"Allow": ", ".join(allowed)}, allowed=allowed)  # fmt: skip
                    return
                if (method, resource) in PUBLIC_ROUTES:
                    self.close_connection = self._has_body()
                    data = api.openapi_document()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                decision = self._authorized((method, resource))
                if decision is None:
                    return
                if method == "POST" and resource == "/transactions":
                    self._transaction(decision)
                elif (method, resource) == EVENTS_ROUTE:
                    self._proxied(method, decision.principal_id, "put_events", MAX_EVENTS_BODY)
                else:
                    self._analytics(method, decision.principal_id)

            def _has_body(self) -> bool:
                return bool(self.headers.get("Transfer-Encoding")) or self.headers.get("Content-Length") not in (
                    None, "0"
                )  # fmt: skip

            def _authorized(self, route: tuple[str, str]) -> Decision | None:
                """The caller's decision for the route it calls, once allowed; None once a 401/403/503 has been
                answered (the body left unread)."""
                try:
                    decision = api.registry.authorize(ROUTE_ROLES[route], self.headers.get(API_KEY_HEADER))
                except Exception:  # noqa: BLE001 - the client gets a stable error, never the detail
                    self.close_connection = True
                    self._error(503, "ServiceUnavailable", "could not check the credential")
                    return None
                if decision.allowed:
                    return decision
                self.close_connection = self._has_body()  # the body stays unread
                self._send(decision.status, decision.body())
                return None

            # --- the body -------------------------------------------------------------------------------
            def _body(self, limit: int, too_large: dict[str, Any]) -> bytes | None:
                """The request body, or None once 400/408/411/413 has been answered. GET: no body is read."""
                lengths = self.headers.get_all("Content-Length") or []
                chunked = self.headers.get_all("Transfer-Encoding") or []
                if chunked:
                    self.close_connection = True
                    if lengths:  # two framings at once: the request smuggling shape
                        self._error(400, "BadRequest", "both Transfer-Encoding and Content-Length: send only a length",
                                    ("Content-Length", "http.content_length"))  # fmt: skip
                    else:
                        self._error(411, "LengthRequired", "chunked transfer encoding is not accepted: send a length",
                                    ("Content-Length", "http.length_required"))  # fmt: skip
                    return None
                if not lengths:
                    if self.command == "POST":
                        self.close_connection = True
                        self._error(411, "LengthRequired", "a POST needs a Content-Length header",
                                    ("Content-Length", "http.length_required"))  # fmt: skip
                        return None
                    return b""
                if len(lengths) != 1 or not _DIGITS.fullmatch(lengths[0].strip(" \t")):
                    self.close_connection = True
                    self._error(400, "BadRequest", "Content-Length must be one non-negative integer",
                                ("Content-Length", "http.content_length"))  # fmt: skip
                    return None
                length = int(lengths[0].strip(" \t"))
                if length > limit:
                    self.close_connection = True  # the body stays unread
                    self._send(413, too_large)
                    return None
                try:
                    data = self.rfile.read(length) if length else b""
                except TimeoutError:
                    self.close_connection = True
                    self._error(408, "RequestTimeout", f"the body did not arrive within {api.read_timeout:g} seconds",
                                ("$", "http.body_incomplete"))  # fmt: skip
                    return None
                if len(data) < length:
                    self.close_connection = True
                    self._error(400, "BadRequest", "the body is shorter than its Content-Length",
                                ("$", "http.body_incomplete"))  # fmt: skip
                    return None
                return data

            # --- the routes -----------------------------------------------------------------------------
            def _transaction(self, decision: Decision) -> None:
                # the contract's limit of one transaction (in AWS the WAF blocks a larger body before API
                # Gateway starts the workflow): every state's data stays far below Step Functions' 256 KB
                too_large = {
                    "error": "PayloadTooLarge",
                    "message": f"a transaction body is at most {MAX_TRANSACTION_BYTES} bytes",
                    "fields": [{"field": "$", "rule": "body.too_large",
                                "reason": f"a transaction is at most {MAX_TRANSACTION_BYTES} bytes"}],
                }  # fmt: skip
                raw = self._body(MAX_TRANSACTION_BYTES, too_large)
                if raw is None:
                    return
                try:
                    result = submit(
                        raw, settings=api.settings, clients=api.clients,
                        state_machine_arn=api.state_machine_arn, queue_url=api.queue_url,
                        producer_id=decision.principal_id,
                    )  # fmt: skip
                except Exception:  # noqa: BLE001 - the client gets a stable error, the log the detail
                    self._error(503, "ServiceUnavailable", "could not start the workflow")
                    return
                self._send(result.status, result.body)

            def _analytics(self, method: str, caller: str | None) -> None:
                """Proxy an analytics route to the analytics_api Lambda (API Gateway proxy integration)."""
                self._proxied(method, caller, "analytics_api", MAX_BODY)

            def _proxied(self, method: str, caller: str | None, short: str, limit: int) -> None:
                """Proxy the request to the Lambda ``short`` (API Gateway proxy integration)."""
                too_large = {"error": "PayloadTooLarge", "message": f"body over {limit} bytes",
                             "fields": [{"field": "$", "rule": "body.too_large",
                                         "reason": f"a request body is at most {limit} bytes"}]}  # fmt: skip
                data = self._body(limit, too_large)
                if data is None:
                    return
                body: str | None = None
                encoded = False
                if method == "POST" and data:
                    try:
                        body = data.decode("utf-8")
                    except UnicodeDecodeError:  # as API Gateway passes a body it cannot treat as text
                        body, encoded = base64.b64encode(data).decode("ascii"), True
                if method != "POST" and data:
                    self.close_connection = True  # a GET's body is not read by any route
                event = proxy_event(method, self.path, dict(self.headers.items()), body, caller)
                assert event is not None
                event["isBase64Encoded"] = encoded
                function = api.settings.function_name(short)
                try:
                    response = sfn.REGISTRY.invoke(function, event)
                except Exception:  # noqa: BLE001 - the client gets a stable error, never the detail
                    self._error(502, "BadGateway", f"the {short} function failed")
                    return
                if response.get("FunctionError"):
                    self._error(502, "BadGateway", f"the {short} function failed")
                    return
                payload = response["Payload"]
                self._send(int(payload["statusCode"]), json.loads(payload["body"]))

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
