"""What a generated record is: its NDJSON line, the transactionId a consumer can read from it, its kind
(valid, one of the labelled bad kinds, a duplicate, or one of the lifecycle kinds) and what the pipeline must
do with it (:attr:`GeneratedRecord.outcome`: stored as version n, harmless, or dead-lettered with a rule)."""

from __future__ import annotations

from dataclasses import dataclass

VALID = "valid"
DUPLICATE = "duplicate"
#: Kinds that fail the transaction contract (``InvalidTransaction``).
CONTRACT_KINDS: tuple[str, ...] = (
    "malformed_json",
    "missing_field",
    "mistyped_field",
    "negative_amount",
    "absurd_amount",
    "unknown_currency",
)
#: Kinds that pass the contract but fail the shop check (ItemNotFound, ItemNotPurchasable, PriceMismatch).
CATALOGUE_KINDS: tuple[str, ...] = ("unknown_item", "not_for_sale", "price_mismatch")
INVALID_KINDS: tuple[str, ...] = CONTRACT_KINDS + CATALOGUE_KINDS
KINDS: tuple[str, ...] = (VALID, *INVALID_KINDS, DUPLICATE)

#: A later message of a stored transaction whose status is an allowed move: stored as the next version.
STATUS_UPDATE = "status_update"
#: A later message whose status the lifecycle does not allow from the stored one (``failed -> completed``).
ILLEGAL_MOVE = "illegal_move"
#: An allowed move that changes a field a later version may not change (``user_id``, ``event_timestamp``).
IMMUTABLE_CHANGE = "immutable_change"
#: An older status sent after a newer one was stored (out of order): harmless, never overwrites.
STALE_VERSION = "stale_version"
#: An exact re-send of a version already stored, sent after it was stored: a harmless duplicate.
RESENT_VERSION = "resent_version"
#: Lifecycle kinds of the invalid share (with ``lifecycle_share`` > 0 the invalid share is split over
#: INVALID_KINDS + these).
LIFECYCLE_INVALID_KINDS: tuple[str, ...] = (ILLEGAL_MOVE, IMMUTABLE_CHANGE, STALE_VERSION, RESENT_VERSION)
LIFECYCLE_KINDS: tuple[str, ...] = (STATUS_UPDATE, *LIFECYCLE_INVALID_KINDS)
#: Every kind, in the order the counts are shown.
ALL_KINDS: tuple[str, ...] = (*KINDS, *LIFECYCLE_KINDS)

#: What the pipeline must do with a message.
STORED = "stored"  # stored as a version (``version``): version 1 for a first message, n for an update
HARMLESS = "harmless"  # a duplicate or a stale version: nothing written, not dead-lettered
DEAD_LETTERED = "dead_lettered"  # in the dead-letter queue, once (``rule`` names a lifecycle refusal)
OUTCOMES: tuple[str, ...] = (STORED, HARMLESS, DEAD_LETTERED)

_HARMLESS_KINDS = frozenset({DUPLICATE, STALE_VERSION, RESENT_VERSION})


@dataclass(frozen=True)
class GeneratedRecord:
    """One NDJSON line and what it is.

    ``transaction_id`` is the id a consumer can read from the line (None when the
    line is not JSON or its ``transactionId`` is missing or not a string: the same
    rule as ``InvalidTransaction.transaction_id``). ``field`` is the wire path of
    the defect (``"$"`` for malformed JSON), None for valid records and duplicates.

    The lifecycle's labels: ``version`` is the version the message is stored as (1 for a valid first message,
    n for a status update; None when it stores nothing); ``rule`` is the dead letter's lifecycle rule
    (``lifecycle.move_not_allowed`` / ``lifecycle.immutable_field``); ``phase`` is when it may be sent: a
    message of phase p updates (or re-sends, or arrives after) a message of phase p - 1 of the same
    transaction, so phase p is sent only once every message of phase p - 1 was settled.
    """

    line: str
    transaction_id: str | None
    kind: str
    field: str | None = None
    version: int | None = None
    rule: str | None = None
    phase: int = 0

    @property
    def outcome(self) -> str:
        """What the pipeline must do with it: ``stored`` / ``harmless`` / ``dead_lettered``."""
        if self.kind in (VALID, STATUS_UPDATE):
            return STORED
        if self.kind in _HARMLESS_KINDS:
            return HARMLESS
        return DEAD_LETTERED
