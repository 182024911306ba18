"""get_secret(): database credentials from Secrets Manager, cached, never logged."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from lambdas.common.aws import client

_TTL_SECONDS = 300.0
_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


class Secret(dict[str, Any]):
    """A dict whose repr never shows the values (so a log line cannot leak them)."""

    def __repr__(self) -> str:
        return f"Secret(keys={sorted(self)})"

    __str__ = __repr__


def get_secret(secret_id: str, *, refresh: bool = False) -> Secret:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(secret_id)
        if hit and not refresh and now - hit[0] < _TTL_SECONDS:
            return Secret(hit[1])
    value = client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    parsed = json.loads(value)
    with _lock:
        _cache[secret_id] = (now, parsed)
    return Secret(parsed)


def clear_secret_cache() -> None:
    with _lock:
        _cache.clear()
