"""boto3 clients, one per service and process; only the endpoint differs locally."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from contracts.config import Settings, get_settings

_clients: dict[tuple[str, str | None, str], Any] = {}
_lock = threading.Lock()
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50)


def client(service: str, settings: Settings | None = None) -> Any:
    s = settings or get_settings()
    key = (service, s.aws_endpoint_url, s.region)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                session: Any = boto3.session.Session()
                found = session.client(service, region_name=s.region, endpoint_url=s.aws_endpoint_url, config=_CONFIG)
                _clients[key] = found
    return found


def reset_clients() -> None:
    with _lock:
        _clients.clear()
