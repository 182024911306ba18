"""The life of a payment, declared once: which status may follow which, what a later message means, and what
each status is worth to revenue.

A transaction is stored once per **version**. Version 1 is the first message the compliance store accepts for
a ``transactionId``; each later message whose ``transaction_status`` is an allowed move from the stored one
becomes version n+1 (with ``previous_status`` and the time it was applied), and the compliance store keeps
every version (``compliance.transaction_versions``). The allowed moves::

    pending   -> completed | failed
    completed -> refunded  | chargeback

``failed``, ``refunded`` and ``chargeback`` are final. What a message for a known transaction is
(:func:`decide`):

- ``APPLY``: an allowed move: stored as the next version.
- ``DUPLICATE``: the same status as the stored one (an exact re-send, a retry): harmless, nothing written.
- ``STALE``: a status the stored one already went through (``pending`` after ``completed``, ``completed``
  after ``refunded``): an older version arriving late; it never overwrites the newer one, nothing written.
- ``ILLEGAL``: any other move (``failed -> completed``, ``refunded -> chargeback``, ``pending -> refunded``):
  dead-lettered with the reason ``lifecycle.move_not_allowed``.

A later message may change the status and the payment's own details (gateway, card, client IP), never what
was bought, by whom, when and for how much (:data:`IMMUTABLE_PATHS`): a change there is dead-lettered with
``lifecycle.immutable_field`` naming the field. Messages are ordered by the lifecycle itself, not by a clock:
every status has one place in it, so no producer has to number its messages.

Revenue (:func:`revenue`, :func:`revenue_delta`): a purchase counts once it completed; a refund or a
chargeback keeps it in gross revenue and takes it out of net. Every store of aggregates (the real-time
DynamoDB rollups, the marts) adds, per applied version, the difference between the new status's worth and the
previous one's, so a transaction is counted once whatever order its versions were applied in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from contracts.transaction import TransactionStatus

__all__ = [
    "FINAL",
    "IMMUTABLE_PATHS",
    "MOVES",
    "Revenue",
    "Verdict",
    "changed_immutable",
    "decide",
    "message_key",
    "revenue",
    "revenue_delta",
    "split_message_key",
    "version_stamp",
]

S = TransactionStatus

#: The allowed moves: status -> the statuses it may become.
MOVES: dict[TransactionStatus, frozenset[TransactionStatus]] = {
    S.PENDING: frozenset({S.COMPLETED, S.FAILED}),
    S.COMPLETED: frozenset({S.REFUNDED, S.CHARGEBACK}),
    S.FAILED: frozenset(),
    S.REFUNDED: frozenset(),
    S.CHARGEBACK: frozenset(),
}
#: Statuses no message may move on from.
FINAL = frozenset(s for s, nxt in MOVES.items() if not nxt)


def _ancestors() -> dict[TransactionStatus, frozenset[TransactionStatus]]:
    parents: dict[TransactionStatus, set[TransactionStatus]] = {s: set() for s in MOVES}
    for src, nxt in MOVES.items():
        for dst in nxt:
            parents[dst].add(src)
    out: dict[TransactionStatus, frozenset[TransactionStatus]] = {}
    for status in MOVES:
        seen: set[TransactionStatus] = set()
        todo = list(parents[status])
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo.extend(parents[p])
        out[status] = frozenset(seen)
    return out


#: status -> every status a transaction went through before it (``refunded`` -> {completed, pending}).
ANCESTORS = _ancestors()
#: Depth of a status in the lifecycle (pending 0, completed/failed 1, refunded/chargeback 2): the order in which
#: the versions of one transaction received together (one file chunk, one stream batch) are applied.
RANK: dict[TransactionStatus, int] = {s: len(a) for s, a in ANCESTORS.items()}


class Verdict(StrEnum):
    NEW = "new"  # no version stored yet: this message is version 1
    APPLY = "apply"
    DUPLICATE = "duplicate"
    STALE = "stale"
    ILLEGAL = "illegal"


#: Reason codes of the refusals (the dead letter's ``rule``), as ``contracts.validation`` names its rules.
MOVE_NOT_ALLOWED = "lifecycle.move_not_allowed"
IMMUTABLE_FIELD = "lifecycle.immutable_field"
LIFECYCLE_TEXT = "pending -> completed | failed; completed -> refunded | chargeback"


def decide(stored: str | None, incoming: str) -> Verdict:
    """What a message with status ``incoming`` is, given the stored status (None: nothing stored yet)."""
    new = S(incoming)
    if stored is None:
        return Verdict.NEW
    old = S(stored)
    if new == old:
        return Verdict.DUPLICATE
    if new in MOVES[old]:
        return Verdict.APPLY
    if new in ANCESTORS[old]:
        return Verdict.STALE
    return Verdict.ILLEGAL


def move_refusal_text() -> str:
    """The refusal's message for an ILLEGAL move: names the field and the rule, never the values."""
    return f"transaction_status: the lifecycle does not allow this move ({LIFECYCLE_TEXT})"


#: Wire paths a later version may not change (what was bought, by whom, when, for how much).
IMMUTABLE_PATHS: tuple[str, ...] = (
    "user_id",
    "game",
    "item_purchased.item_id",
    "item_purchased.item_type",
    "item_purchased.price.amount",
    "item_purchased.price.currency",
    "payment_details.payment_method",
    "event_timestamp",
)


def _at(record: dict[str, Any], path: str) -> Any:
    node: Any = record
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, float | int) and not isinstance(node, bool):
        return Decimal(str(node))
    if isinstance(node, str) and path.endswith(".amount"):
        return Decimal(node)
    return node


def changed_immutable(stored: dict[str, Any], incoming: dict[str, Any]) -> str | None:
    """The first immutable wire path whose value differs between two wire-form records (None: none does).
    Amounts compare as decimals (``10`` equals ``10.00``); timestamps as their wire text (both are UTC ISO)."""
    for path in IMMUTABLE_PATHS:
        if _at(stored, path) != _at(incoming, path):
            return path
    return None


def immutable_refusal_text(path: str) -> str:
    return f"{path}: a later version of a transaction may not change it (only the status and payment details)"


@dataclass(frozen=True)
class Revenue:
    """What one transaction in one status adds to aggregates: purchases counted, gross, refunded and net USD."""

    purchases: int = 0
    gross_usd: Decimal = Decimal(0)
    refunded_usd: Decimal = Decimal(0)
    net_usd: Decimal = Decimal(0)

    def __sub__(self, other: Revenue) -> Revenue:
        return Revenue(
            self.purchases - other.purchases,
            self.gross_usd - other.gross_usd,
            self.refunded_usd - other.refunded_usd,
            self.net_usd - other.net_usd,
        )

    def __add__(self, other: Revenue) -> Revenue:
        return Revenue(
            self.purchases + other.purchases,
            self.gross_usd + other.gross_usd,
            self.refunded_usd + other.refunded_usd,
            self.net_usd + other.net_usd,
        )

    def is_zero(self) -> bool:
        return not (self.purchases or self.gross_usd or self.refunded_usd or self.net_usd)


#: Statuses whose transaction is a purchase (counted in gross revenue).
PURCHASED = frozenset({S.COMPLETED, S.REFUNDED, S.CHARGEBACK})
#: Statuses whose amount was given back (counted as refunded, out of net).
REVERSED = frozenset({S.REFUNDED, S.CHARGEBACK})


def revenue(status: str | None, amount_usd: Decimal | None) -> Revenue:
    """The worth of a transaction in ``status`` (None: not stored; an unknown USD amount counts the purchase
    with no money)."""
    if status is None or S(status) not in PURCHASED:
        return Revenue()
    amount = amount_usd if amount_usd is not None else Decimal(0)
    reversed_ = S(status) in REVERSED
    return Revenue(1, amount, amount if reversed_ else Decimal(0), Decimal(0) if reversed_ else amount)


def revenue_delta(previous_status: str | None, status: str, amount_usd: Decimal | None) -> Revenue:
    """What applying one version adds: the new status's worth minus the previous one's."""
    return revenue(status, amount_usd) - revenue(previous_status, amount_usd)


#: Separator of a message key: a character the identifier rule does not allow, so a key splits one way.
KEY_SEPARATOR = "/"


def message_key(transaction_id: str, status: str) -> str:
    """The key of one message (one version's status) of a transaction: ``<transactionId>/<status>``."""
    return f"{transaction_id}{KEY_SEPARATOR}{status}"


def split_message_key(key: str) -> tuple[str, str | None]:
    """(transactionId, status) of a message key; a key written before versions (a bare id) gives no status."""
    tx_id, sep, status = key.rpartition(KEY_SEPARATOR)
    return (tx_id, status) if sep else (key, None)


#: The analytics record's version fields (top-level keys beside the Enrich stage's): which version of the
#: transaction the record is, the status it moved from (None for version 1) and when the compliance store
#: applied it (UTC ISO). Declared as warehouse columns in ``contracts.warehouse``.
VERSION_FIELDS: tuple[str, ...] = ("version", "previous_status", "status_updated_at")


def version_stamp(version: int, previous_status: str | None, status_updated_at: str) -> dict[str, Any]:
    """The version fields of one analytics record."""
    return {"version": version, "previous_status": previous_status, "status_updated_at": status_updated_at}
