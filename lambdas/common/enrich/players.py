"""``is_first_purchase``: the player's first purchase, from an atomic per-player record (DynamoDB).

One item per player in the players table (``MTX_PLAYERS_TABLE``, key ``player_id`` = the contract's
``user_id``), written once with a conditional put (``attribute_not_exists``): its ``first_transaction_id`` is the
first transaction of the player the pipeline enriched. A transaction is the player's first purchase when it is
that id, so the answer is idempotent: a retry or a redrive of the same transaction still says true, any other
says false. In bulk (a file chunk, a stream batch), the players already known are read with BatchGetItem (100 a
call) and only the new ones are put, one conditional put each (BatchWriteItem has no conditions); within a batch
the first record of a player (in the batch's order) is the candidate, and the new players' records are put
with conditional PutItems, 8 at a time.

"First" is first *seen by the pipeline*, not earliest by event time: a late-arriving older purchase is not
re-labelled (that would rewrite what the analytics copy already says).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.aws import client
from lambdas.common.errors import ServiceRejected, StorageUnavailable, transient_service_error

BATCH_GET_LIMIT = 100
#: Players whose first transaction this container has seen (a record's first transaction never changes once
#: put): read from here, not the table. Bounded: cleared when full.
KNOWN_LIMIT = 500_000
_known_here: dict[tuple[str, str], str] = {}  # (table, player id) -> first transaction id
CLAIM_THREADS = 8
_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (the process it was made in, the claimers)


def _claimers() -> ThreadPoolExecutor:
    """The container's claim threads, made once and kept warm (not 8 new threads a batch); made again in a
    forked child, which inherits the executor but not its threads."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=CLAIM_THREADS, thread_name_prefix="claim"))
        return _pool[1]


def _fail(exc: Exception, operation: str) -> Exception:
    mapped = transient_service_error(exc)
    if mapped is not None or isinstance(exc, BotoCoreError):
        return StorageUnavailable(f"players table: {operation} failed ({type(exc).__name__})")
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
    return ServiceRejected(f"players table: {operation} refused ({code})")


def _known(table: str, players: list[str]) -> dict[str, str]:
    """player id -> first transaction id, for the players of ``players`` the table knows."""
    known: dict[str, str] = {}
    ddb = client("dynamodb")
    for i in range(0, len(players), BATCH_GET_LIMIT):
        keys: list[dict[str, Any]] = [{"player_id": {"S": p}} for p in players[i : i + BATCH_GET_LIMIT]]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True,
                                           "ProjectionExpression": "player_id, first_transaction_id"}}  # fmt: skip
        for _ in range(10):  # unprocessed keys come back under throttling: asked again
            try:
                found = ddb.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise _fail(exc, "BatchGetItem") from None
            for item in found.get("Responses", {}).get(table, []):
                known[item["player_id"]["S"]] = item["first_transaction_id"]["S"]
            request = found.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise StorageUnavailable("players table: BatchGetItem left keys unprocessed")
    return known


def _claim(table: str, player_id: str, transaction_id: str, event_date: str) -> str:
    """Put the player's record if it is absent; the first transaction id either way."""
    try:
        client("dynamodb").put_item(
            TableName=table,
            Item={"player_id": {"S": player_id}, "first_transaction_id": {"S": transaction_id},
                  "first_event_date": {"S": event_date}},
            ConditionExpression="attribute_not_exists(player_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )  # fmt: skip
        return transaction_id
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
            if "first_transaction_id" in old:
                return str(old["first_transaction_id"]["S"])
            return _known(table, [player_id])[player_id]  # an SDK that does not return the old item
        raise _fail(exc, "PutItem") from None
    except BotoCoreError as exc:
        raise _fail(exc, "PutItem") from None


def _claim_many(table: str, new: list[tuple[str, str, str]]) -> dict[str, str]:
    """Put the records of players the table did not know: one conditional PutItem each, ``CLAIM_THREADS`` at a
    time (boto3 clients are thread-safe). Not TransactWriteItems: all or nothing, a call another writer raced is
    cancelled whole, and the local stand-in (moto) takes time growing with the table's size per call."""
    firsts = list(_claimers().map(lambda claim: _claim(table, *claim), new))
    return {p: first for (p, _, _), first in zip(new, firsts, strict=True)}


def first_purchases(table: str, purchases: Iterable[tuple[str, str, str]]) -> set[str]:
    """The transaction ids, of ``(transaction_id, player_id, event_date)`` in order, that are their player's
    first purchase."""
    candidates: dict[str, tuple[str, str]] = {}
    for transaction_id, player_id, event_date in purchases:
        candidates.setdefault(player_id, (transaction_id, event_date))
    if not candidates:
        return set()
    first = {p: _known_here[(table, p)] for p in candidates if (table, p) in _known_here}
    unseen = [p for p in candidates if p not in first]
    if unseen:
        first.update(_known(table, unseen))
    new = [(p, t, d) for p, (t, d) in candidates.items() if p not in first]
    if len(new) == 1:
        first[new[0][0]] = _claim(table, *new[0])
    elif new:
        first.update(_claim_many(table, new))
    if len(_known_here) + len(first) > KNOWN_LIMIT:
        _known_here.clear()
    _known_here.update({(table, p): t for p, t in first.items()})
    return set(first.values())
