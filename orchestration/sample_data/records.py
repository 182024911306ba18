"""What a generated record is: its NDJSON line, the transactionId a consumer can read from it, and its kind
(valid, one of the labelled bad kinds, or a duplicate)."""

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


@dataclass(frozen=True)
class GeneratedRecord:
    """One NDJSON line and what it is.

    ``transaction_id`` is the id a consumer can read from the line (None when the
    line is not JSON or its ``transactionId`` is missing or not a string: the same
    rule as ``InvalidTransaction.transaction_id``). ``field`` is the wire path of
    the defect (``"$"`` for malformed JSON), None for valid records and duplicates.
    """

    line: str
    transaction_id: str | None
    kind: str
    field: str | None = None
