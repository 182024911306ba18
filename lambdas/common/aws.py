"""boto3 clients, one per service and region and process.

Where the AWS endpoints are is the SDK's business (its default endpoints in AWS; the standard
``AWS_ENDPOINT_URL`` variable where something else stands in for AWS), not this code's: it never names
an endpoint. Whoever changes the endpoint or the credentials under a running process calls ``reset_clients``
(the clients share one SDK session, which keeps the credentials it first found)."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from contracts.config import Settings, get_settings

_clients: dict[tuple[str, str, bool], Any] = {}
#: one SDK session for the process's clients: a session reads the SDK's endpoint and partition data and each
#: service model once (~0.1 s of CPU a session), so a cold start with four clients paid that four times. The
#: clients are made under the lock (a session is not safe for threads making clients at once; a client is).
_session: Any = None
_lock = threading.Lock()
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50)
_UNVALIDATED = _CONFIG.merge(Config(parameter_validation=False))


def client(service: str, settings: Settings | None = None, *, validated: bool = True) -> Any:
    """The process's client for ``service``. ``validated=False``: a client that skips the SDK's own check of
    each request against the service model (the service checks it anyway). Only for a hot path whose requests
    are built in one place and checked against the model by a unit test: the real-time rollups' transactions
    of up to 100 items, whose recursive check was about a third of the stream handler's CPU."""
    global _session
    s = settings or get_settings()
    key = (service, s.region, validated)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                if _session is None:
                    _session = boto3.session.Session()
                config = _CONFIG if validated else _UNVALIDATED
                found = _session.client(service, region_name=s.region, config=config)
                _clients[key] = found
    return found


def reset_clients() -> None:
    """Forget the clients and their session: the next ones read the endpoint and credentials afresh."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
