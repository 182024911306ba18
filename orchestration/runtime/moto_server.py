"""moto as the local AWS: a threaded server on 127.0.0.1 inside this process.

Running it in-process lets the Step Functions interpreter (which lives in the
server) dispatch Lambda tasks to the Python handlers of this process, while
``aws --endpoint-url`` and boto3 in other processes reach the same state over HTTP.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from orchestration import sfn
from orchestration.runtime.ports import free_port

#: moto accepts any credentials; these make boto3 and the aws CLI sign requests.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass
class MotoServer:
    port: int = 0
    time_scale: float = 1.0
    _server: Any = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = self.port or free_port()
        # The interpreter's own service calls go to http://localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        for key, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        sfn.install(time_scale=self.time_scale)
        # One line per HTTP request and a stack dump per Fail state are noise here;
        # executions are inspected through the API (describe_execution, history).
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
