"""The Enrich stage, one piece of code for every entrance: after validation, before the PII strip.

What it adds to the analytics copy (the contract's analytics shape: ``contracts.warehouse.ENRICHED``):

- from the shop catalogue (DynamoDB): the item's ``item_category`` and its USD ``list_price_usd``;
- from the daily FX table (``fx.py``): ``amount_usd`` at the event date, the ``usd_per_unit`` rate and its
  ``fx_rate_date``; no rate in force: ``FxRateMissing`` (named; retried later by the workflow, a named dead
  letter in bulk);
- from ``client_ip`` (``geo.py``, offline): ``country`` (ISO 3166-1 alpha-2, null when unknown) and a coarse
  ``region``, computed here so that the analytics copy carries the country and never the IP;
- from the players table (``players.py``): ``is_first_purchase``, idempotent on the transaction id;
- stamps: ``contract_version`` (the contract the record was validated against), ``application_id`` (the
  producer's application on the API; the configured default where the entrance does not say). The ingest time
  is the record's ``ingested_at``, stamped by the strip as before.

The per-transaction workflow calls :func:`enrich_one` (lambdas/enrich_transaction); the bulk entrances
(``process_chunk``, ``ingest_stream``) call :func:`static_fields` per record as it streams and
:func:`players.first_purchases` once per batch. Catalogue and FX table are read once per invocation (the bulk
path scans the catalogue once per chunk) and kept per warm container for a short time (:class:`References`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contracts import CONTRACT_VERSION
from contracts.config import Settings, get_settings
from lambdas.common.aws import client
from lambdas.common.enrich.fx import FxTable
from lambdas.common.enrich.geo import locate
from lambdas.common.enrich.players import first_purchases
from lambdas.common.errors import FxRateMissing, StorageUnavailable, transient_service_error

__all__ = [
    "BulkEnricher",
    "FxRateMissing",
    "FxTable",
    "Purchase",
    "References",
    "enrich_one",
    "load_fx",
    "settle_first_purchase",
    "static_fields",
]

#: Seconds a warm container keeps what it read (the FX table, catalogue items) before reading it again.
REFERENCE_TTL_SECONDS = 300.0


@dataclass(frozen=True)
class Purchase:
    """What enrichment reads of a validated transaction (either entrance's form of it)."""

    transaction_id: str
    user_id: str
    item_id: str
    currency: str
    amount: Decimal
    event_date: str  # YYYY-MM-DD, UTC
    client_ip: str

    @classmethod
    def of_wire(cls, tx: dict[str, Any]) -> Purchase:
        price = tx["item_purchased"]["price"]
        return cls(tx["transactionId"], tx["user_id"], tx["item_purchased"]["item_id"], price["currency"],
                   Decimal(str(price["amount"])), tx["event_timestamp"][:10], tx["client_ip"])  # fmt: skip


def item_attributes(item: dict[str, Any] | None) -> tuple[str | None, Decimal | None]:
    """(category, USD list price) of a catalogue item (DynamoDB attribute-value map); None where absent."""
    if not item:
        return None, None
    category = item.get("category", {}).get("S")
    usd = item.get("prices", {}).get("M", {}).get("USD", {}).get("N")
    return category, (Decimal(usd) if usd is not None else None)


def static_fields(purchase: Purchase, item: dict[str, Any] | None, fx: FxTable, application_id: str) -> dict[str, Any]:
    """Every enriched field but ``is_first_purchase`` (which needs the players table): pure, no I/O.
    JSON-ready (numbers as floats of at most 8 places, exact in their decimal form). Raises FxRateMissing."""
    fields = BulkEnricher({purchase.item_id: item} if item else {}, fx, application_id).fields(purchase)
    del fields["is_first_purchase"]
    return fields


def load_fx(settings: Settings | None = None) -> FxTable:
    """The FX table from S3. Absent: every rate is missing (FxRateMissing, retried later); unreachable:
    StorageUnavailable."""
    s = settings or get_settings()
    try:
        body = client("s3").get_object(Bucket=s.fx_rates_bucket, Key=s.fx_rates_key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "404"}:
            raise FxRateMissing("the FX table is not published yet: no USD exchange rate for any currency") from None
        raise (transient_service_error(exc) or StorageUnavailable(f"FX table: GetObject refused ({code})")) from None
    except BotoCoreError as exc:
        raise StorageUnavailable(f"FX table: GetObject failed ({type(exc).__name__})") from None
    return FxTable.from_document(body)


def load_fx_or_empty(settings: Settings | None = None) -> FxTable:
    """The bulk entrances' FX table: an absent table is an empty one, so that each record is dead-lettered as
    FxRateMissing (redriven once the table is published) rather than the whole batch failing."""
    try:
        return load_fx(settings)
    except FxRateMissing:
        return FxTable({})


class References:
    """What a warm container read, kept ``REFERENCE_TTL_SECONDS``: the FX table and catalogue items."""

    def __init__(self, ttl: float = REFERENCE_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._fx: tuple[float, FxTable] | None = None
        self._items: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def fx(self, loader: Callable[[], FxTable] = load_fx) -> FxTable:
        with self._lock:
            if self._fx is None or time.monotonic() - self._fx[0] >= self.ttl:
                self._fx = (time.monotonic(), loader())
            return self._fx[1]

    def forget_fx(self) -> None:
        """A missing rate: the next attempt reads the table again (it may have been refreshed)."""
        with self._lock:
            self._fx = None

    def item(self, item_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._items.get(item_id)
            if found is not None and time.monotonic() - found[0] < self.ttl:
                return found[1]
        try:
            got: dict[str, Any] | None = (
                client("dynamodb")
                .get_item(TableName=get_settings().item_catalogue_table, Key={"item_id": {"S": item_id}})
                .get("Item")
            )
        except (ClientError, BotoCoreError) as exc:
            raise (transient_service_error(exc) or StorageUnavailable("catalogue: GetItem refused")) from None
        with self._lock:
            self._items[item_id] = (time.monotonic(), got)
        return got


#: This container's references (the workflow's Enrich function).
REFERENCES = References()


def enrich_one(purchase: Purchase, application_id: str | None, refs: References = REFERENCES) -> dict[str, Any]:
    """Every enriched field of one transaction (the per-transaction workflow)."""
    settings = get_settings()
    try:
        fields = static_fields(purchase, refs.item(purchase.item_id), refs.fx(),
                               application_id or settings.default_application_id)  # fmt: skip
    except FxRateMissing:
        refs.forget_fx()
        raise
    first = first_purchases(settings.players_table, [(purchase.transaction_id, purchase.user_id, purchase.event_date)])
    fields["is_first_purchase"] = purchase.transaction_id in first
    return fields


class BulkEnricher:
    """The Enrich stage for a file chunk or a stream batch: the catalogue the batch already scanned, one FX table,
    the batch's application id. :meth:`fields` is pure (item attributes and rates memoised per batch);
    ``is_first_purchase`` is settled once per batch after the load (:func:`players.first_purchases`), for the
    records the batch owns: the analytics line carries it last, ``null`` until then (:data:`FIRST_PURCHASE_TAIL`)."""

    def __init__(self, items: dict[str, dict[str, Any]], fx: FxTable, application_id: str) -> None:
        self.fx = fx
        self.application_id = application_id
        self._items = items
        self._attributes: dict[str, tuple[str | None, Decimal | None]] = {}

    def fields(self, purchase: Purchase) -> dict[str, Any]:
        """Every enriched field, ``is_first_purchase`` None (settled later). Raises FxRateMissing."""
        amount_usd, rate = self.fx.convert(purchase.amount, purchase.currency, purchase.event_date)
        country, region = locate(purchase.client_ip)
        attributes = self._attributes.get(purchase.item_id)
        if attributes is None:
            attributes = self._attributes[purchase.item_id] = item_attributes(self._items.get(purchase.item_id))
        category, list_price = attributes
        return {
            "amount_usd": float(amount_usd), "usd_per_unit": float(rate.usd_per_unit), "fx_rate_date": rate.rate_date,
            "country": country, "region": region, "item_category": category,
            "list_price_usd": float(list_price) if list_price is not None else None,
            "contract_version": CONTRACT_VERSION, "application_id": self.application_id, "is_first_purchase": None,
        }  # fmt: skip


#: How a bulk analytics line ends until its first purchase is settled (``is_first_purchase`` is its last key).
FIRST_PURCHASE_TAIL = b'"is_first_purchase":null}'


def settle_first_purchase(line: bytes, first: bool) -> bytes:
    """The analytics line with its ``is_first_purchase`` set."""
    if not line.endswith(FIRST_PURCHASE_TAIL):
        raise ValueError("analytics line: is_first_purchase is not its last key")
    return line[: -len(b"null}")] + (b"true}" if first else b"false}")
