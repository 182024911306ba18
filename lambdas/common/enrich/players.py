"""``is_first_purchase``: the player's first purchase, from an atomic per-player record (DynamoDB).

One item per player in the players table (``MTX_PLAYERS_TABLE``, key ``player_id`` = the contract's
``user_id``), written once with a conditional put (``attribute_not_exists``): its ``first_transaction_id`` is the
first transaction of the player the pipeline enriched. A transaction is the player's first purchase when it is
that id, so the answer is idempotent: a retry or a redrive of the same transaction still says true, any other
says false. In bulk (a file chunk, a stream batch), the players already known are read with BatchGetItem (100 a
call) and only the new ones are put; within a batch the first record of a player (in the batch's order) is the
candidate. One new player is one conditional PutItem; more go 25 to a BatchExecuteStatement of PartiQL INSERTs
(each statement its own write, refused with ``DuplicateItem`` when the player exists: the same condition, one
call for 25 players instead of 25), up to 8 calls at a time. A player another writer put first is read back
with a consistent read.

"First" is first *seen by the pipeline*, not earliest by event time: a late-arriving older purchase is not
re-labelled (that would rewrite what the analytics copy already says).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.aws import client
from lambdas.common.errors import ServiceRejected, StorageUnavailable, transient_service_error

BATCH_GET_LIMIT = 100
#: DynamoDB's limit of statements in one BatchExecuteStatement.
BATCH_STATEMENT_LIMIT = 25
#: Tries of a claim DynamoDB throttled (a statement error of BatchExecuteStatement), with full-jitter backoff.
CLAIM_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 2.0
_RETRIED_STATEMENT = frozenset({
    "ProvisionedThroughputExceeded", "RequestLimitExceeded", "ThrottlingError", "TransactionConflict",
    "InternalServerError",
})  # fmt: skip
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
#: Players whose first transaction this container has seen (a record's first transaction never changes once
#: put): read from here, not the table. Bounded: cleared when full.
KNOWN_LIMIT = 500_000
_known_here: dict[tuple[str, str], str] = {}  # (table, player id) -> first transaction id
CLAIM_THREADS = 8
_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (the process it was made in, the claimers)


def forget_known() -> None:
    """Drop what this container knows of players (a new container: the local stack started again in one process,
    against another table of the same name)."""
    _known_here.clear()


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


def _known(table: str, players: list[str], *, consistent: bool = True) -> dict[str, str]:
    """player id -> first transaction id, for the players of ``players`` the table knows. ``consistent=False``:
    an eventually consistent read (half the read units), for the batch's first look only: a player it misses,
    claimed a moment ago, is caught by the claim's condition and read back consistently."""
    known: dict[str, str] = {}
    ddb = client("dynamodb")
    for i in range(0, len(players), BATCH_GET_LIMIT):
        keys: list[dict[str, Any]] = [{"player_id": {"S": p}} for p in players[i : i + BATCH_GET_LIMIT]]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": consistent,
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


def insert_statement(table: str) -> str:
    """The claim as a PartiQL INSERT (the values are parameters, never text; the table name is the settings',
    checked against DynamoDB's naming rule): DynamoDB refuses it with ``DuplicateItem`` when the player exists."""
    if not _TABLE_NAME.fullmatch(table):
        raise ValueError("players table: the name breaks DynamoDB's naming rule ([A-Za-z0-9_.-], 3-255)")
    return f"INSERT INTO \"{table}\" VALUE {{'player_id': ?, 'first_transaction_id': ?, 'first_event_date': ?}}"


def _claim_part(table: str, part: list[tuple[str, str, str]]) -> dict[str, str]:
    """One BatchExecuteStatement of up to 25 claims, each its own conditional write: player id -> first
    transaction id. Statements DynamoDB throttled are sent again (with backoff); a player another writer put
    first (``DuplicateItem``) is read back with a consistent read."""
    statement = insert_statement(table)
    firsts: dict[str, str] = {}
    taken: list[str] = []
    pending = part
    for attempt in range(CLAIM_ATTEMPTS):
        try:
            answer = client("dynamodb").batch_execute_statement(Statements=[
                {"Statement": statement, "Parameters": [{"S": p}, {"S": t}, {"S": d}]} for p, t, d in pending
            ])  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            raise _fail(exc, "BatchExecuteStatement") from None
        responses = answer.get("Responses") or []
        if len(responses) != len(pending):  # one answer a statement, in order: anything else is not to be read
            got = f"{len(responses)} of {len(pending)}"
            raise StorageUnavailable(f"players table: BatchExecuteStatement answered {got} statements")
        again: list[tuple[str, str, str]] = []
        for claim, response in zip(pending, responses, strict=True):
            code = (response.get("Error") or {}).get("Code")
            if code is None:
                firsts[claim[0]] = claim[1]
            elif code in ("DuplicateItem", "ConditionalCheckFailed"):
                taken.append(claim[0])
            elif code in _RETRIED_STATEMENT:
                again.append(claim)
            else:
                raise ServiceRejected(f"players table: BatchExecuteStatement refused a claim ({code})")
        if not again:
            break
        pending = again
        time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))  # noqa: S311
    else:
        raise StorageUnavailable(f"players table: {len(pending)} claims still throttled after {CLAIM_ATTEMPTS} tries")
    if taken:
        known = _known(table, taken)
        missing = [p for p in taken if p not in known]
        if missing:  # DynamoDB said the item exists: a consistent read finds it, or the table changed meanwhile
            raise StorageUnavailable(f"players table: {len(missing)} players put by another writer not found")
        firsts.update(known)
    return firsts


def _claim_many(table: str, new: list[tuple[str, str, str]]) -> dict[str, str]:
    """Put the records of players the table did not know: BatchExecuteStatement, 25 conditional INSERTs a call
    (each statement its own write, one write unit as a PutItem), ``CLAIM_THREADS`` calls at a time (boto3
    clients are thread-safe). Not TransactWriteItems: all or nothing (a call another writer raced is cancelled
    whole) and two write units an item. Not BatchWriteItem: it has no condition, a racing writer's claim would
    be overwritten."""
    parts = [new[i : i + BATCH_STATEMENT_LIMIT] for i in range(0, len(new), BATCH_STATEMENT_LIMIT)]
    if len(parts) == 1:
        return _claim_part(table, parts[0])
    firsts: dict[str, str] = {}
    for found in _claimers().map(lambda part: _claim_part(table, part), parts):
        firsts.update(found)
    return firsts


def first_purchases(table: str, purchases: Iterable[tuple[str, str, str]]) -> set[str]:
    """The transaction ids, of ``(transaction_id, player_id, event_date)`` in order, that are their player's
    first purchase."""
    candidates: dict[str, tuple[str, str]] = {}
    for transaction_id, player_id, event_date in purchases:
        candidates.setdefault(player_id, (transaction_id, event_date))
    if not candidates:
        return set()
    first: dict[str, str] = {}
    for p in candidates:  # read once: another thread may clear the container's cache meanwhile
        seen = _known_here.get((table, p))
        if seen is not None:
            first[p] = seen
    unseen = [p for p in candidates if p not in first]
    if unseen:
        first.update(_known(table, unseen, consistent=False))
    new = [(p, t, d) for p, (t, d) in candidates.items() if p not in first]
    if len(new) == 1:
        first[new[0][0]] = _claim(table, *new[0])
    elif new:
        first.update(_claim_many(table, new))
    if len(_known_here) + len(first) > KNOWN_LIMIT:
        _known_here.clear()
    _known_here.update({(table, p): t for p, t in first.items()})
    return set(first.values())
