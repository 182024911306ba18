"""Operation results cached in DynamoDB, keyed by operation + normalised parameters, with a TTL.

DynamoDB deletes expired items lazily (up to days later), so a read checks ``expires_at`` itself.
The cache is an optimisation: when DynamoDB fails the query runs uncached.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.aws import client
from lambdas.common.logging import get_logger

logger = get_logger("analytics-cache")

#: Results bigger than this are not cached (DynamoDB items are limited to 400 KB).
MAX_CACHED_BYTES = 350_000


def cache_key(operation: str, parameters: dict[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, "parameters": parameters}, sort_keys=True, separators=(",", ":"))
    return f"{operation}#{hashlib.sha256(canonical.encode()).hexdigest()}"


def get(table: str, key: str, now: float | None = None) -> dict[str, Any] | None:
    now = time.time() if now is None else now
    try:
        item = (
            client("dynamodb").get_item(TableName=table, Key={"cache_key": {"S": key}}, ConsistentRead=True).get("Item")
        )
    except (BotoCoreError, ClientError) as exc:
        logger.warning("cache read failed", extra={"error": type(exc).__name__})
        return None
    if not item or int(item["expires_at"]["N"]) <= now:
        return None
    return {
        "result": json.loads(item["result"]["S"]),
        "cached_at": item["cached_at"]["S"],
        "expires_at": int(item["expires_at"]["N"]),
    }


def put(
    table: str, key: str, operation: str, parameters: dict[str, Any], result: dict[str, Any], cached_at: str,
    ttl_seconds: int, now: float | None = None,
) -> int | None:  # fmt: skip
    """Store a result; returns its expiry (epoch seconds) or None when not cached."""
    now = time.time() if now is None else now
    body = json.dumps(result, separators=(",", ":"))
    if len(body) > MAX_CACHED_BYTES:
        return None
    expires_at = int(now) + ttl_seconds
    try:
        client("dynamodb").put_item(
            TableName=table,
            Item={
                "cache_key": {"S": key},
                "operation": {"S": operation},
                "parameters": {"S": json.dumps(parameters, sort_keys=True)},
                "result": {"S": body},
                "cached_at": {"S": cached_at},
                "expires_at": {"N": str(expires_at)},
            },
        )
    except (BotoCoreError, ClientError) as exc:
        logger.warning("cache write failed", extra={"error": type(exc).__name__})
        return None
    return expires_at
