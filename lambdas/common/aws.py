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

_clients: dict[tuple[str, str, bool], Any] = {}
_lock = threading.Lock()
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50)
_UNVALIDATED = _CONFIG.merge(Config(parameter_validation=False))


def client(service: str, settings: Settings | None = None, *, validated: bool = True) -> Any:
    """The process's client for ``service``. ``validated=False``: a client that skips the SDK's own check of
    each request against the service model (the service checks it anyway). Only for a hot path whose requests
    are built in one place and checked against the model by a unit test: the real-time rollups' transactions
    of up to 100 items, whose recursive check was about a third of the stream handler's CPU."""
    s = settings or get_settings()
    key = (service, s.region, validated)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                session: Any = boto3.session.Session()
                config = _CONFIG if validated else _UNVALIDATED
                found = session.client(service, region_name=s.region, config=config)
                _clients[key] = found
    return found


def reset_clients() -> None:
    with _lock:
        _clients.clear()
