"""What AWS X-Ray and Lambda do for the functions' traces, locally: the daemon, and Lambda's part of a trace.

In AWS the handlers' Powertools Tracer (``lambdas/common/tracing.py``) sends its subsegments over UDP
to the X-Ray daemon at ``AWS_XRAY_DAEMON_ADDRESS``, under the segment Lambda opened for the invocation
(its id in ``_X_AMZN_TRACE_ID``). The local runtime plays both parts, and the deployed code is unchanged:

* :class:`Daemon` listens on a free UDP port of 127.0.0.1 and appends every segment document it
  receives to ``<home>/traces/segments.ndjson`` (one JSON object a line, as the SDK sent it). The stack
  sets ``AWS_XRAY_DAEMON_ADDRESS`` for its process and in ``stack.env``, as it sets ``AWS_ENDPOINT_URL``.
* :func:`host_lambdas` makes this process a Lambda host before a function is imported: Powertools turns
  the Tracer on only where ``LAMBDA_TASK_ROOT`` is set, and the SDK reads the invocation's trace header
  from a thread (:class:`_InvocationContext`), not from the process environment, because here many
  invocations run at once on threads of one process.
* :func:`invocation` (around every call of ``LambdaRegistry.invoke``) opens the function's segment:
  a new trace id, the header for the handler's thread, and, when the handler returns or raises, the
  ``AWS::Lambda::Function`` segment itself, as Lambda would send it.

Outside an invocation (a test calling a handler directly, the stack's own AWS calls) the trace entity
is the SDK's dummy segment: nothing is recorded or sent, and nothing is logged. With no daemon running
:func:`invocation` does nothing either. ``read`` returns the documents a test or ``mtx`` looks at.
"""

from __future__ import annotations

import binascii
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aws_xray_sdk.core.lambda_launcher import LambdaContext
from aws_xray_sdk.core.models.dummy_entities import DummySegment
from aws_xray_sdk.core.models.trace_header import TraceHeader
from aws_xray_sdk.core.models.traceid import TraceId

from contracts.config import PACKAGE_ROOT

ADDRESS_ENV = "AWS_XRAY_DAEMON_ADDRESS"
_PROTOCOL_HEADER = b'{"format":"json","version":1}'
_current = threading.local()  # .header: the trace header of the invocation this thread runs
_daemon: Daemon | None = None


class _InvocationContext(LambdaContext):
    """Lambda's trace context, with the invocation's header read from the thread that runs it."""

    def _refresh_context(self) -> None:
        header = getattr(_current, "header", None)
        segment = getattr(self._local, "segment", None)
        if header is None:
            if not isinstance(segment, DummySegment):
                self._initialize_context(TraceHeader())  # no invocation: a dummy segment, nothing recorded
            return
        parsed = TraceHeader.from_header_str(header)
        if segment is None or getattr(segment, "trace_id", None) != parsed.root:
            self._initialize_context(parsed)

    def put_subsegment(self, subsegment: Any) -> None:
        current = self.get_trace_entity()
        if isinstance(current, DummySegment):
            return  # outside an invocation: dropped without the SDK's warning
        current.add_subsegment(subsegment)
        self._local.entities.append(subsegment)


def host_lambdas() -> None:
    """Set this process up as a Lambda host (idempotent); call it before any handler module is imported."""
    os.environ.setdefault("LAMBDA_TASK_ROOT", str(PACKAGE_ROOT))
    from aws_xray_sdk.core import xray_recorder

    if not isinstance(xray_recorder.context, _InvocationContext):
        xray_recorder.configure(context=_InvocationContext())
    address = os.environ.get(ADDRESS_ENV)
    if address:
        xray_recorder.configure(daemon_address=address)


def segments_file(home: Path) -> Path:
    """Where a local stack keeps the trace segments: ``<home>/traces/segments.ndjson``."""
    return Path(home) / "traces" / "segments.ndjson"


class Daemon:
    """A UDP listener on 127.0.0.1 that appends the segment documents it receives to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # bursts of a Map state
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.5)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="xray-daemon", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Daemon:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        with self.path.open("ab", buffering=0) as out:
            while not self._stop.is_set():
                try:
                    datagram = self._sock.recv(65_535)
                except TimeoutError:
                    continue
                except OSError:
                    return
                header, _, document = datagram.partition(b"\n")
                if header.strip() == _PROTOCOL_HEADER and document.strip():
                    out.write(document.strip() + b"\n")

    def send(self, document: dict[str, Any]) -> None:
        """Send one segment document as the SDK does (the runtime's function segments)."""
        _send(("127.0.0.1", self.port), document)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


def _send(address: tuple[str, int], document: dict[str, Any]) -> None:
    payload = _PROTOCOL_HEADER + b"\n" + json.dumps(document, separators=(",", ":")).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload, address)


class _Remote:
    """The daemon of a stack run by another process (a Lambda worker process sends its segments there)."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))

    def send(self, document: dict[str, Any]) -> None:
        _send(self.address, document)


_remote: _Remote | None = None


def send_segments_to(address: str | None) -> None:
    """In a Lambda worker process (orchestration/runtime/lambda_pool.py): Lambda's segment of each invocation
    goes to the daemon at ``address`` (``host:port``), the stack's; None: nowhere."""
    global _remote
    _remote = _Remote(address) if address else None


def start(home: Path) -> Daemon:
    """Start the daemon of a stack and point this process's SDK at it (``AWS_XRAY_DAEMON_ADDRESS``). One
    process hosts the functions of one stack at a time: a second stack's daemon replaces the first's."""
    global _daemon
    stop()
    _daemon = Daemon(segments_file(home)).start()
    os.environ[ADDRESS_ENV] = _daemon.address
    host_lambdas()
    return _daemon


def stop(daemon: Daemon | None = None) -> None:
    """Stop the running daemon; given ``daemon``, only if it is still the running one (a stack stopping
    after another one started in this process leaves that one's daemon alone)."""
    global _daemon
    if _daemon is not None and (daemon is None or daemon is _daemon):
        _daemon.stop()
        _daemon = None


def current_header() -> str | None:
    """The trace header of the invocation this thread runs (a worker process gets it with the call)."""
    return getattr(_current, "header", None)


@contextlib.contextmanager
def invocation(function_name: str) -> Iterator[None]:
    """Lambda's part of a trace around one invocation: the header the handler's SDK reads, then the
    ``AWS::Lambda::Function`` segment (a fault when the handler raised)."""
    daemon: Daemon | _Remote | None = _daemon or _remote
    if daemon is None:
        yield
        return
    trace_id = TraceId().to_id()
    segment_id = binascii.b2a_hex(os.urandom(8)).decode()
    previous = current_header()
    _current.header = f"Root={trace_id};Parent={segment_id};Sampled=1"
    started = time.time()
    fault = False
    try:
        yield
    except BaseException:
        fault = True
        raise
    finally:
        _current.header = previous
        document = {
            "name": function_name, "id": segment_id, "trace_id": trace_id, "start_time": started,
            "end_time": time.time(), "origin": "AWS::Lambda::Function", "fault": fault,
        }  # fmt: skip
        with contextlib.suppress(OSError):
            daemon.send(document)


def call_with_header(header: str | None, handler: Any, event: Any, context: Any) -> Any:
    """``handler(event, context)`` under the trace header of the invocation that handed it to this (worker)
    process (``orchestration/runtime/local_workers.py``)."""
    host_lambdas()
    previous = current_header()
    _current.header = header
    try:
        return handler(event, context)
    finally:
        _current.header = previous


def read(path: Path) -> list[dict[str, Any]]:
    """Every segment document kept in ``path`` (a line cut by a killed process is skipped)."""
    if not path.exists():
        return []
    documents = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            documents.append(json.loads(line))
    return documents
