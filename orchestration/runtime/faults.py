"""Fault injection for the local stack: what AWS and RDS do to a pipeline on a bad day, on demand.

Lives in the local runtime only; the deployed code never knows about it. It sits where the faults
come from in AWS, so the product meets them through its real code paths:

* **AWS services** (S3, DynamoDB, SQS sends): a WSGI layer in front of the moto server answers a share
  of the requests with the service's own throttling or 5xx error body, or drops the connection, either
  before the request is served or AFTER it took effect (the answer is lost: the caller cannot know
  its write happened, and must be idempotent when it tries again). The Lambda handlers' boto3 calls
  and Step Functions' own service integrations both go through it.
* **Lambda**: a share of the invocations the local Lambda runtime makes time out after the handler
  ran (``Sandbox.Timedout``, as AWS Lambda reports a function that outlived its timeout): again the work
  may be done and the answer lost.
* **PostgreSQL**: :meth:`orchestration.runtime.postgres.PostgresServer.crash` (kill -9 of the server
  and its backends, then a start with crash recovery).

Which requests are spared: those of a client whose user agent carries :data:`SPARED_AGENT` (the soak's
own producer-side and checking calls: an upload by a user, or the reading-back of every store, is not
the product's traffic), and every service not named in the plan.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

#: user-agent marker of clients whose calls are never faulted (see the module docstring)
SPARED_AGENT = "mtx-fault-spared"

#: the kinds of AWS fault, each with its share of the faults of a service
KINDS = ("throttled", "server_error", "reset_before", "reset_after")
_KIND_WEIGHTS = (0.4, 0.3, 0.15, 0.15)

_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_TARGET_SQS_SEND = ("AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch")


@dataclass
class FaultPlan:
    """Probability of a fault per call, by service; ``lambda`` is per invocation."""

    s3: float = 0.02
    dynamodb: float = 0.02
    sqs_send: float = 0.01
    lambda_timeout: float = 0.005
    seed: int = 20261204

    def rate(self, service: str) -> float:
        return {"s3": self.s3, "dynamodb": self.dynamodb, "sqs": self.sqs_send}.get(service, 0.0)


@dataclass
class FaultInjector:
    plan: FaultPlan = field(default_factory=FaultPlan)
    enabled: bool = False
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.plan.seed)  # noqa: S311 - which call fails, not a secret

    # ------------------------------------------------------------------ drawing
    def _draw(self, rate: float) -> bool:
        if not self.enabled or rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def _kind(self) -> str:
        with self._lock:
            return self._rng.choices(KINDS, _KIND_WEIGHTS)[0]

    def count(self, service: str, kind: str) -> None:
        with self._lock:
            self.injected[(service, kind)] += 1

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    # ------------------------------------------------------------------ AWS services (WSGI)
    @staticmethod
    def service_of(environ: dict[str, Any]) -> str | None:
        if SPARED_AGENT in environ.get("HTTP_USER_AGENT", ""):
            return None
        found = _SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if found is None:
            return None
        service = found.group(1)
        if service == "sqs":
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            query_send = "Action=SendMessage" in environ.get("QUERY_STRING", "")
            return "sqs" if target in _TARGET_SQS_SEND or query_send else None
        return service

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def faulty(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            service = self.service_of(environ)
            if service is None or not self._draw(self.plan.rate(service)):
                return app(environ, start_response)
            kind = self._kind()
            self.count(service, kind)
            if kind == "reset_after":
                # the request takes effect, then the connection drops before the answer
                for _ in app(environ, lambda *a, **k: lambda _data: None):
                    pass
                return _drop(environ, start_response)
            _drain(environ)
            if kind == "reset_before":
                return _drop(environ, start_response)
            status, headers, body = error_response(service, kind, environ)
            # every AWS answer names its request (SDKs and Step Functions read it from the error)
            request_id = uuid.uuid4().hex
            headers += [("x-amzn-RequestId", request_id), ("x-amz-request-id", request_id),
                        ("Content-Length", str(len(body)))]  # fmt: skip
            start_response(status, headers)
            return [body]

        return faulty

    # ------------------------------------------------------------------ Lambda
    def lambda_times_out(self, function_name: str) -> bool:
        if self._draw(self.plan.lambda_timeout):
            self.count("lambda", "timed_out")
            return True
        return False

    def summary(self) -> dict[str, int]:
        return {f"{service}.{kind}": n for (service, kind), n in sorted(self.injected.items())}


def _drain(environ: dict[str, Any]) -> None:
    """Read the request body the answer will not use (by its length: the connection stays open)."""
    from werkzeug.wsgi import get_input_stream

    if "wsgi.input" not in environ:
        return
    with contextlib.suppress(OSError):
        get_input_stream(environ).read()


def _drop(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Close the connection with no answer: the client sees a reset / a closed connection."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    # the server's write of this answer fails on the shut socket (a dropped connection, logged by nobody)
    start_response("500 Internal Server Error", [("Content-Length", "0")])
    return [b""]


def error_response(service: str, kind: str, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """The service's own answer for a throttled or failed request, in its protocol."""
    throttled = kind == "throttled"
    if service == "s3":
        status, code, msg = (
            ("503 Slow Down", "SlowDown", "Please reduce your request rate.")
            if throttled
            else ("500 Internal Server Error", "InternalError", "We encountered an internal error. Please try again.")
        )
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{msg}</Message>'
            "<RequestId>FAULTINJECTED</RequestId></Error>"
        )
        return status, [("Content-Type", "application/xml")], body.encode()
    if service == "dynamodb":
        status, code, msg = (
            ("400 Bad Request", "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
            if throttled
            else ("500 Internal Server Error", "InternalServerError", "Internal server error")
        )
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": msg})
        return status, [("Content-Type", "application/x-amz-json-1.0")], body.encode()
    # SQS: JSON protocol (x-amz-target) or the older query protocol
    status, code, msg = (
        ("400 Bad Request", "RequestThrottled", "Request is throttled.")
        if throttled
        else ("500 Internal Server Error", "InternalError", "An internal error occurred.")
    )
    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": msg})
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", f"{code};Sender")]
        return status, headers, body.encode()
    xml = (
        f"<ErrorResponse><Error><Type>{'Sender' if throttled else 'Receiver'}</Type><Code>{code}</Code>"
        f"<Message>{msg}</Message></Error><RequestId>FAULTINJECTED</RequestId></ErrorResponse>"
    )
    return status, [("Content-Type", "text/xml")], xml.encode()
