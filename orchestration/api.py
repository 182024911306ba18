"""The local API Gateway stand-in: ``POST /transactions`` (and, later, the analytics routes)."""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from orchestration.ingest import Clients, submit
from orchestration.runtime.ports import free_port
from orchestration.settings import Settings

MAX_BODY = 256 * 1024  # API Gateway's payload limit is 10 MB; a transaction is < 2 KB


class ApiServer:
    def __init__(self, settings: Settings, clients: Clients, state_machine_arn: str, queue_url: str) -> None:
        self.settings = settings
        self.clients = clients
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

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/transactions":
                    self._send(404, {"error": "NotFound", "message": f"no route POST {self.path}"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(413, {"error": "PayloadTooLarge", "message": f"body over {MAX_BODY} bytes"})
                    return
                raw = self.rfile.read(length)
                try:
                    result = submit(
                        raw, settings=api.settings, clients=api.clients,
                        state_machine_arn=api.state_machine_arn, queue_url=api.queue_url,
                    )  # fmt: skip
                except Exception:  # noqa: BLE001 - the client gets a stable error, the log the detail
                    self._send(503, {"error": "ServiceUnavailable", "message": "could not start the workflow"})
                    return
                self._send(result.status, result.body)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/health":
                    self._send(HTTPStatus.OK, {"status": "ok"})
                    return
                self._send(404, {"error": "NotFound", "message": f"no route GET {self.path}"})

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
