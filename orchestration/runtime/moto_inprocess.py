"""The Step Functions interpreter's service integrations, served by the local moto in-process.

The interpreter lives in the moto server's process, and moto 5.2.5 makes its service integrations (a
DynamoDB ``putItem`` / ``updateItem`` task, an SQS ``sendMessage``, an SNS ``publish``...) through boto3 over
HTTP to that same server: the SDK's connection pool and HTTP client on one side, werkzeug's server (its request
parsing, a thread per connection, the socket writes) on the other. Measured on the per-transaction path
(py-spy, GIL samples): ~2.5 ms of CPU a call spent on moving bytes through a socket the process sends to itself,
two such calls an execution, on the core the executions share.

Here each such call still goes through botocore (the same serialising, signing and parsing of the answer, so the
interpreter sees the same responses and the same errors) and through the server's whole WSGI application
(``MotoServer.inject``'s fault layer, moto's dispatcher): only the socket and the HTTP server are skipped. A
botocore ``before-send`` handler registered on the interpreter's own clients (``sfn._cache_integration_clients``)
builds the WSGI environ werkzeug would have built and calls the application. A fault that drops the connection
(``faults._drop``) shuts the environ's socket: here a stand-in that records it, and the call raises
``ConnectionClosedError``, as botocore does for a connection the server closed without an answer.

Only requests of the JSON and query protocols (DynamoDB, SQS, SNS, EventBridge, Step Functions, Glue, Kinesis:
path ``/``, an ``X-Amz-Target`` header or a form body) addressed to the serving server's own port on this
host are taken; anything else (S3, a streamed body, another endpoint, moto's in-memory mock being on) goes
over HTTP as before. An exception the application raises becomes a logged 500, as werkzeug's server answers
it. The Lambda handlers' own clients are not touched: they are the product's code and talk to "AWS" over HTTP.
"""

from __future__ import annotations

import functools
import io
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ConnectionClosedError

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_LOG = logging.getLogger(__name__)
_LOCAL_HOSTS = ("127.0.0.1", "localhost")
_FORM = "application/x-www-form-urlencoded"

_lock = threading.Lock()
_app_of: Callable[[], WSGIApp | None] | None = None
_port: int | None = None
#: requests served in-process so far (tests read it: the path was taken)
served = 0


def serve_with(app_of: Callable[[], WSGIApp | None] | None, port: int | None = None) -> None:
    """Serve requests to ``port`` on this host with the WSGI application ``app_of()`` returns (read at each
    call: the fault layer comes and goes); None: over HTTP."""
    global _app_of, _port
    with _lock:
        _app_of, _port = app_of, (port if app_of is not None else None)


def stop_serving(port: int) -> None:
    """The server on ``port`` stopped: its requests go over HTTP again (another server's are left alone)."""
    global _app_of, _port
    with _lock:
        if _port == port:
            _app_of, _port = None, None


class _Socket:
    """``environ["werkzeug.socket"]``: records the fault layer's shutdown of the connection."""

    def __init__(self) -> None:
        self.dropped = False

    def shutdown(self, how: int) -> None:
        self.dropped = True


class _Body(io.BytesIO):
    """The answer's body as botocore reads it (``raw.stream()``)."""

    def stream(self, **kwargs: Any) -> Iterable[bytes]:
        data = self.read()
        if data:
            yield data


def _environ(method: str, address: str, request_headers: Iterable[tuple[str, Any]], body: bytes) -> dict[str, Any]:
    url = urlsplit(address)
    host = url.hostname or "127.0.0.1"
    port = str(url.port or (443 if url.scheme == "https" else 80))
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": url.path or "/",
        "QUERY_STRING": url.query,
        "REQUEST_URI": url.path + (f"?{url.query}" if url.query else ""),
        "RAW_URI": url.path + (f"?{url.query}" if url.query else ""),
        "SERVER_NAME": host,
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "werkzeug.socket": _Socket(),
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": url.netloc,
    }
    for name, value in request_headers:
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = text
        elif key != "CONTENT_LENGTH":
            environ[f"HTTP_{key}"] = text
    return environ


def _header(request: AWSPreparedRequest, name: str) -> str:
    value = request.headers.get(name) or ""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _taken(request: AWSPreparedRequest) -> bool:
    """A JSON or query protocol request to the serving server's port on this host."""
    url = urlsplit(request.url)
    if url.path not in ("", "/") or url.hostname not in _LOCAL_HOSTS or url.port is None or url.port != _port:
        return False
    return bool(_header(request, "X-Amz-Target")) or _header(request, "Content-Type").startswith(_FORM)


def _stubbed() -> bool:
    """moto's in-memory mock (``mock_aws``) is on: it answers the SDK's requests itself."""
    from moto.core.models import botocore_stubber

    return bool(botocore_stubber.enabled)


def _serve(
    app: WSGIApp, method: str, address: str, request_headers: Iterable[tuple[str, Any]], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The application's answer to a request: status, headers, body (an exception in it: a logged 500, as
    werkzeug's server). A connection the application dropped raises ``ConnectionClosedError``."""
    global served
    environ = _environ(method, address, request_headers, body)
    answer: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        answer["status"], answer["headers"] = status, headers
        return written.append

    try:
        chunks = app(environ, start_response)
        try:
            content = b"".join([*written, *chunks])
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
    except Exception:  # noqa: BLE001 - as werkzeug's server: the traceback logged, the caller a 500
        from werkzeug.exceptions import InternalServerError  # the local extra's, as moto's (not the CLI's)

        _LOG.exception("error on request %s %s", method, environ["PATH_INFO"])
        answer = {"status": "500 INTERNAL SERVER ERROR", "headers": [("Content-Type", "text/html; charset=utf-8")]}
        content = InternalServerError().get_body().encode()
    if environ["werkzeug.socket"].dropped:
        raise ConnectionClosedError(endpoint_url=address)
    with _lock:
        served += 1
    return int(answer["status"].split(" ", 1)[0]), answer["headers"], content


def dispatch(request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse | None:
    """botocore ``before-send`` handler: the answer of the server's application, or None (send over HTTP)."""
    app_of = _app_of
    body = request.body if request.body is not None else b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if app_of is None or not isinstance(body, bytes | bytearray) or not _taken(request) or _stubbed():
        return None
    app = app_of()
    if app is None:
        return None
    status, answer_headers, content = _serve(app, request.method, request.url, request.headers.items(), bytes(body))
    joined: dict[str, list[str]] = {}
    for name, value in answer_headers:
        joined.setdefault(name.lower(), []).append(value)
    headers = HTTPHeaders()
    for name, values in joined.items():
        headers[name] = ", ".join(values)  # as urllib3 joins a repeated header
    return AWSResponse(request.url, status, headers, _Body(content))


#: the DynamoDB tasks whose answer holds no attribute value (so no binary to decode, as the SDK would)
_DYNAMODB_WRITES = {"put_item": "PutItem", "update_item": "UpdateItem", "delete_item": "DeleteItem"}


@functools.cache
def _dynamodb_members(operation: str) -> frozenset[str]:
    """The request parameters of a DynamoDB operation, from the SDK's service model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    shape = model.operation_model(operation).input_shape
    return frozenset(shape.members) if shape is not None else frozenset()


def dynamodb_write(action: str, parameters: dict[str, Any], region: str) -> dict[str, Any] | None:
    """A DynamoDB write task of the interpreter (``putItem``, ``updateItem``, ``deleteItem``) sent as the JSON
    request the SDK would send, to the serving server's application; its answer as the SDK parses it for such a
    call (no ``ResponseMetadata``, which the interpreter drops), its error as the SDK's ``ClientError``, a dropped
    connection as ``ConnectionClosedError``. None when not serving, or for a call whose answer could hold item
    attributes (``ReturnValues``, ``ReturnValuesOnConditionCheckFailure``): the SDK client makes those.

    The SDK's side of these calls (serialising, signing, the user agent, parsing) was ~1.3 ms of CPU a call, and
    the interpreter makes two an execution: the JSON protocol needs none of it to reach moto in-process. A
    parameter the operation does not have goes to the SDK client (whose serialiser refuses it, as before). One
    difference, known: a binary value (``B``) is sent as the ASL gives it (base64 text, as AWS's integration
    sends it), where the SDK encoded it once more."""
    operation = _DYNAMODB_WRITES.get(action)
    app_of = _app_of
    port = _port
    if operation is None or app_of is None or port is None or _stubbed():
        return None
    if parameters.get("ReturnValues", "NONE") != "NONE" or "ReturnValuesOnConditionCheckFailure" in parameters:
        return None
    if not set(parameters) <= _dynamodb_members(operation):
        return None  # the SDK's serialiser refuses a parameter the operation does not have: the client answers
    app = app_of()
    if app is None:
        return None
    import json

    from botocore.exceptions import ClientError

    address = f"http://localhost:{port}/"
    body = json.dumps(parameters).encode()
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("X-Amz-Target", f"DynamoDB_20120810.{operation}"),
        # the credential scope names the service and region (moto, the fault layer read it); the interpreter's key
        ("Authorization", f"AWS4-HMAC-SHA256 Credential=ak/20000101/{region}/dynamodb/aws4_request, "
                          "SignedHeaders=host;x-amz-target, Signature=0"),
        ("User-Agent", "mtx-local-interpreter"),
    ]  # fmt: skip
    status, answer_headers, content = _serve(app, "POST", address, headers, body)
    try:
        parsed = json.loads(content) if content else {}
    except ValueError:  # as botocore's JSON parser: the body itself is the message
        parsed = {"message": content.decode("utf-8", "replace")}
    if not isinstance(parsed, dict):
        parsed = {}
    if status < 300:
        return parsed
    found = {name.lower(): value for name, value in answer_headers}
    code = str(parsed.get("__type") or status).split(":", 1)[0].rsplit("#", 1)[-1]  # as botocore's JSON parser
    error = {
        "Error": {"Code": code, "Message": parsed.get("message", parsed.get("Message", ""))},
        "ResponseMetadata": {"RequestId": found.get("x-amzn-requestid", ""), "HTTPStatusCode": status,
                             "HTTPHeaders": found, "RetryAttempts": 0},
    }  # fmt: skip
    raise ClientError(error, operation)  # type: ignore[arg-type]
