"""boto3 clients, one per service and region and process.

Where the AWS endpoints are is the SDK's business (its default endpoints in AWS; the standard
``AWS_ENDPOINT_URL`` variable where something else stands in for AWS), not this code's: it never names
an endpoint. Whoever changes the endpoint under a running process calls ``reset_clients``."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from contracts.config import Settings, get_settings

_clients: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50)


def client(service: str, settings: Settings | None = None) -> Any:
    s = settings or get_settings()
    key = (service, s.region)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                session: Any = boto3.session.Session()
                found = session.client(service, region_name=s.region, config=_CONFIG)
                _clients[key] = found
    return found


def reset_clients() -> None:
    with _lock:
        _clients.clear()
