"""The real-time revenue rollups in DynamoDB: written exactly once per transaction version, read by game and hour.

One table (``Settings.realtime_aggregates_table``; docs/lifecycle.md, "Real-time aggregates") holds

- the rollups: ``pk=game#<game>, sk=hour#<YYYY-MM-DDTHH>`` and ``pk=item#<item_id>, sk=day#<YYYY-MM-DD>`` (the
  hour / day of the event time, UTC) with the numbers ``purchases``, ``gross_usd``, ``refunded_usd``, ``net_usd``,
  each changed only by ``ADD`` of :func:`contracts.lifecycle.revenue_delta`;
- the markers that make each write happen once: ``pk=applied#<transactionId>, sk=v#<version>`` (one version on
  the per-transaction path) or ``pk=applied#<ref>, sk=part#<k>of<n>`` (one group of a chunk / stream batch),
  put with ``attribute_not_exists`` in the SAME TransactWriteItems as the ADDs, and expiring after
  ``MARKER_DAYS`` (TTL attribute ``expires_at``): far beyond any retry, redrive or replay window.

A retry or a redrive that writes the same version again finds its marker: DynamoDB cancels the whole transaction
(no ADD happens) and the writer takes it as "already applied". Amounts are exact decimals (4 places, as the
warehouse's ``numeric(18,4)``), sent as DynamoDB number text; never a float.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from contracts.config import get_settings
from contracts.lifecycle import Revenue, revenue_delta
from lambdas.common import metrics
from lambdas.common.aws import client
from lambdas.common.errors import StorageUnavailable

__all__ = [
    "MARKER_DAYS",
    "MAX_TRANSACTION_ITEMS",
    "AppliedVersion",
    "Key",
    "aggregate",
    "apply_version",
    "apply_versions",
    "day_key",
    "game_hours",
    "groups",
    "hour_key",
    "item_days",
    "of_record",
    "rollup_keys",
    "withdraw_version",
    "withdraw_versions",
]

#: Days a marker is kept (TTL): longer than SQS keeps a dead letter (14), the stream a record (7) and a redrive.
MARKER_DAYS = 35
#: DynamoDB's limit of actions in one TransactWriteItems (one of them is the marker).
MAX_TRANSACTION_ITEMS = 100
#: Places of the USD amounts (the warehouse's numeric(18,4)).
USD_PLACES = Decimal("0.0001")
#: Attempts of one transaction against conflicts (another writer on the same rollup) and throttling.
ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 2.0
#: Cancellation reasons / error codes worth another attempt.
_RETRIED = frozenset({
    "TransactionConflict", "TransactionConflictException", "ThrottlingError", "ThrottlingException",
    "ProvisionedThroughputExceeded", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "TransactionInProgressException", "InternalServerError", "ServiceUnavailable",
})  # fmt: skip
_NUMBERS = ("purchases", "gross_usd", "refunded_usd", "net_usd")

#: A rollup's key: (pk, sk).
Key = tuple[str, str]


class AppliedVersion(NamedTuple):
    """One version a bulk writer stored (what :func:`apply_version` takes, as one value: ``apply_version(*v)``).
    A named tuple: a bulk batch makes one per version it owns, and a frozen dataclass cost ~2 us each to build."""

    transaction_id: str
    version: int
    previous_status: str | None
    status: str
    game: str
    item_id: str
    event_at: str | dt.datetime
    amount_usd: Decimal | None


def of_record(record: dict[str, Any]) -> AppliedVersion:
    """The version an analytics record is (its version stamp, status, game, item, event time and USD amount)."""
    amount = record.get("amount_usd")
    return AppliedVersion(
        record["transactionId"], int(record["version"]), record.get("previous_status"),
        record["payment_details"]["transaction_status"], record["game"], record["item_purchased"]["item_id"],
        record["event_timestamp"], Decimal(str(amount)) if amount is not None else None,
    )  # fmt: skip


def _utc(event_at: str | dt.datetime) -> dt.datetime:
    moment = event_at if isinstance(event_at, dt.datetime) else dt.datetime.fromisoformat(event_at)
    if moment.tzinfo is None:
        raise ValueError("event_at: must carry a time zone (UTC ISO 8601)")
    return moment.astimezone(dt.UTC)


def _hour(event_at: str | dt.datetime) -> str:
    """``YYYY-MM-DDTHH`` of the event time in UTC. A stored record's time is already UTC ISO 8601 with ``Z``
    (``contracts.timestamps.utc_iso``): its first 13 characters are the hour, no parsing; any other form is
    parsed and converted."""
    if isinstance(event_at, str) and len(event_at) >= 20 and event_at[-1] == "Z" and event_at[10] == "T":
        return event_at[:13]
    return f"{_utc(event_at):%Y-%m-%dT%H}"


def hour_key(game: str, event_at: str | dt.datetime) -> Key:
    return f"game#{game}", f"hour#{_hour(event_at)}"


def day_key(item_id: str, event_at: str | dt.datetime) -> Key:
    return f"item#{item_id}", f"day#{_hour(event_at)[:10]}"


def rollup_keys(game: str, item_id: str, event_at: str | dt.datetime) -> tuple[Key, Key]:
    """The two rollups one transaction counts in: its game's hour and its item's day."""
    return _keys_of_hour(game, item_id, _hour(event_at))


def _keys_of_hour(game: str, item_id: str, hour: str) -> tuple[Key, Key]:
    return (f"game#{game}", f"hour#{hour}"), (f"item#{item_id}", f"day#{hour[:10]}")


def _delta(previous_status: str | None, status: str, amount_usd: Decimal | None) -> Revenue:
    amount = None if amount_usd is None else Decimal(amount_usd).quantize(USD_PLACES)
    return revenue_delta(previous_status, status, amount)


def aggregate(versions: Iterable[AppliedVersion]) -> dict[Key, Revenue]:
    """The deltas of many versions summed per rollup. Versions worth nothing (pending, failed) add nothing, and a
    rollup whose four sums are all zero gets no write.

    A version's delta is linear in its amount for a given move (previous status -> status): the money is the
    amount times the move's signs, the purchases count the move's sign once a version. So the versions are
    counted and their quantized amounts summed per move, game, item and hour first, and each group's delta is
    computed once: the same exact decimals as adding the versions' deltas one by one (a unit test compares
    them), at one Decimal addition a version (a day's events: ~20 versions a group)."""
    counted: dict[tuple[str | None, str, str, str, str], list[Any]] = {}
    zero = Decimal(0)
    for v in versions:
        amount = zero if v.amount_usd is None else Decimal(v.amount_usd).quantize(USD_PLACES)
        group = (v.previous_status, v.status, v.game, v.item_id, _hour(v.event_at))
        seen = counted.get(group)
        if seen is None:
            counted[group] = [1, amount]
        else:
            seen[0] += 1
            seen[1] += amount
    sums: dict[Key, Revenue] = {}
    for (previous_status, status, game, item_id, hour), (count, amount) in counted.items():
        move = revenue_delta(previous_status, status, amount)  # the group's money, one version's purchase sign
        delta = Revenue(move.purchases * count, move.gross_usd, move.refunded_usd, move.net_usd)
        if delta.is_zero():
            continue
        for key in _keys_of_hour(game, item_id, hour):
            sums[key] = sums.get(key, Revenue()) + delta
    return {k: r for k, r in sums.items() if not r.is_zero()}


def groups(deltas: dict[Key, Revenue], size: int = MAX_TRANSACTION_ITEMS - 1) -> list[list[tuple[Key, Revenue]]]:
    """The rollups in sorted key order, cut into groups of at most ``size`` (one transaction each, beside its
    marker): the same deltas always give the same groups, so a retried chunk's part k is the same part k."""
    if size < 1:
        raise ValueError("size: at least one rollup per group")
    ordered = sorted(deltas.items())
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


# --------------------------------------------------------------------------- writing
def _marker(table: str, pk: str, sk: str, now: float) -> dict[str, Any]:
    return {"Put": {
        "TableName": table,
        "Item": {"pk": {"S": pk}, "sk": {"S": sk}, "expires_at": {"N": str(int(now) + MARKER_DAYS * 86_400)}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }}  # fmt: skip


_ADD_NUMBERS = "ADD " + ", ".join(f"{n} :{n}" for n in _NUMBERS)


def _add(table: str, key: Key, delta: Revenue) -> dict[str, Any]:
    return {"Update": {
        "TableName": table,
        "Key": {"pk": {"S": key[0]}, "sk": {"S": key[1]}},
        "UpdateExpression": _ADD_NUMBERS,
        "ExpressionAttributeValues": {
            ":purchases": {"N": str(delta.purchases)}, ":gross_usd": {"N": str(delta.gross_usd)},
            ":refunded_usd": {"N": str(delta.refunded_usd)}, ":net_usd": {"N": str(delta.net_usd)},
        },
    }}  # fmt: skip


def _reasons(exc: ClientError) -> list[str]:
    return [str(r.get("Code") or "None") for r in exc.response.get("CancellationReasons") or []]


def _write(items: list[dict[str, Any]]) -> bool:
    """One TransactWriteItems whose first action is the marker: True when applied, False when the marker's
    condition failed (applied before, or nothing to withdraw: nothing changed). Conflicts and throttling are
    retried with full jitter; what still fails leaves as ``StorageUnavailable`` (the caller's step is retried)."""
    ddb = client("dynamodb", validated=False)  # the shapes: tests/unit/test_realtime_rollups.py checks them
    last = "an error"
    for attempt in range(ATTEMPTS):
        try:
            ddb.transact_write_items(TransactItems=items)
            return True
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            reasons = _reasons(exc) if code == "TransactionCanceledException" else []
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False  # the marker exists: this version / group was applied before
            retried = [r for r in reasons if r in _RETRIED] or ([code] if code in _RETRIED else [])
            last = (retried or [r for r in reasons if r != "None"] or [code or "an error"])[0]
            if not retried:
                raise StorageUnavailable(f"AWS answered TransactWriteItems with {last}: retry later") from None
        except BotoCoreError as exc:
            last = type(exc).__name__
        time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))  # noqa: S311
    raise StorageUnavailable(f"TransactWriteItems of the real-time aggregates failed {ATTEMPTS} times ({last})")


def apply_version(
    transaction_id: str, version: int, previous_status: str | None, status: str, game: str, item_id: str,
    event_at: str | dt.datetime, amount_usd: Decimal | None,
) -> bool:  # fmt: skip
    """Add one stored version's revenue delta to its game's hour and its item's day, once.

    True: applied now; False: applied before (its marker exists), or a version worth nothing to revenue
    (pending, failed: no write at all). Raises ``StorageUnavailable`` when DynamoDB keeps failing."""
    delta = _delta(previous_status, status, amount_usd)
    if delta.is_zero():
        return False
    table = get_settings().realtime_aggregates_table
    items = [_marker(table, f"applied#{transaction_id}", f"v#{version}", time.time())]
    items += [_add(table, key, delta) for key in rollup_keys(game, item_id, event_at)]
    applied = _write(items)
    metrics.emit("RealtimeAggregateWrites", 1, Outcome="applied" if applied else "already_applied")
    return applied


def apply_versions(ref: str, versions: Sequence[AppliedVersion]) -> int:
    """Add the deltas of the versions a chunk / stream batch stored (``ref``: its chunk or batch reference, the
    same on every retry), summed per rollup, in deterministic groups of one transaction each with its own marker
    (``applied#<ref>``, ``part#<k>of<n>``). A retry with the same ref and versions applies each group once.
    Returns the groups applied now (the others were applied before)."""
    parts = groups(aggregate(versions))
    table = get_settings().realtime_aggregates_table
    now = time.time()
    applied = 0
    for k, part in enumerate(parts, 1):
        items = [_marker(table, f"applied#{ref}", f"part#{k}of{len(parts)}", now)]
        items += [_add(table, key, delta) for key, delta in part]
        applied += _write(items)
    if parts:
        if applied:
            metrics.emit("RealtimeAggregateWrites", applied, Outcome="applied")
        if len(parts) - applied:
            metrics.emit("RealtimeAggregateWrites", len(parts) - applied, Outcome="already_applied")
    return applied


def _unmarker(table: str, pk: str, sk: str) -> dict[str, Any]:
    return {"Delete": {
        "TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}, "ConditionExpression": "attribute_exists(pk)",
    }}  # fmt: skip


def withdraw_version(
    transaction_id: str, version: int, previous_status: str | None, status: str, game: str, item_id: str,
    event_at: str | dt.datetime, amount_usd: Decimal | None,
) -> bool:  # fmt: skip
    """Take back what :func:`apply_version` added for a version that is being undone (its analytics copy could not
    be written after all): its marker deleted and its deltas subtracted in ONE transaction, conditional on the
    marker, so a retried undo subtracts once and a version never applied subtracts nothing (False). A redrive
    then applies it again as new."""
    delta = _delta(previous_status, status, amount_usd)
    if delta.is_zero():
        return False
    table = get_settings().realtime_aggregates_table
    items = [_unmarker(table, f"applied#{transaction_id}", f"v#{version}")]
    items += [_add(table, key, Revenue() - delta) for key in rollup_keys(game, item_id, event_at)]
    return _write(items)


def withdraw_versions(ref: str, versions: Sequence[AppliedVersion]) -> int:
    """Take back a chunk's groups (the same versions give the same groups as :func:`apply_versions` made): each
    applied group's marker deleted and its deltas subtracted, once. Returns the groups withdrawn now."""
    parts = groups(aggregate(versions))
    table = get_settings().realtime_aggregates_table
    withdrawn = 0
    for k, part in enumerate(parts, 1):
        items = [_unmarker(table, f"applied#{ref}", f"part#{k}of{len(parts)}")]
        items += [_add(table, key, Revenue() - delta) for key, delta in part]
        withdrawn += _write(items)
    return withdrawn


# --------------------------------------------------------------------------- reading
def _number(item: dict[str, Any], name: str) -> Decimal:
    raw = item.get(name, {}).get("N")
    return Decimal(raw) if raw is not None else Decimal(0)


def _query(pk: str, first_sk: str, last_sk: str, table: str | None = None) -> list[dict[str, Any]]:
    ddb = client("dynamodb")
    args: dict[str, Any] = {
        "TableName": table or get_settings().realtime_aggregates_table,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":first": {"S": first_sk}, ":last": {"S": last_sk}},
    }
    rows: list[dict[str, Any]] = []
    while True:
        page = ddb.query(**args)
        for item in page.get("Items", []):
            rows.append({
                "period": item["sk"]["S"].split("#", 1)[1],
                "purchases": int(_number(item, "purchases")),
                **{n: _number(item, n).quantize(USD_PLACES) for n in _NUMBERS[1:]},
            })  # fmt: skip
        if "LastEvaluatedKey" not in page:
            return rows
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def game_hours(game: str, first: dt.datetime, last: dt.datetime, table: str | None = None) -> list[dict[str, Any]]:
    """The rollups of ``game`` for the hours ``first``..``last`` (inclusive, UTC), oldest first: ``period``
    (``YYYY-MM-DDTHH``), purchases, gross_usd, refunded_usd, net_usd."""
    return _query(f"game#{game}", f"hour#{_utc(first):%Y-%m-%dT%H}", f"hour#{_utc(last):%Y-%m-%dT%H}", table)


def item_days(item_id: str, first: dt.date, last: dt.date, table: str | None = None) -> list[dict[str, Any]]:
    """The rollups of ``item_id`` for the days ``first``..``last`` (inclusive, UTC), oldest first."""
    return _query(f"item#{item_id}", f"day#{first:%Y-%m-%d}", f"day#{last:%Y-%m-%d}", table)
