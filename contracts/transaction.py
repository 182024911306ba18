"""The transaction contract: the single source of truth for every consumer.

The Lambda validator, the PII-stripping rule, the Spark schema of the Glue job,
the warehouse DDL, dbt column types and the Great Expectations suites all come
from the models and tables in this package.

Money is ``Decimal`` (JSON numbers are parsed with ``parse_float=Decimal``);
currencies are ISO 4217 with their minor units; timestamps are timezone-aware
and normalised to UTC. Unknown fields are refused (``extra="forbid"``): a field
the contract does not know could carry personal data into analytics.

The models and their enumerations; the field types and the rules each applies are in
``contracts/fields.py``, the compliance row in ``contracts/compliance.py``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from contracts.acceptance import EARLIEST_EVENT, MAX_IP_CHARS, MAX_TRANSACTION_BYTES, TIMESTAMP_PATTERN
from contracts.currencies import ISO_4217_CODES, MINOR_UNITS
from contracts.fields import (
    CURRENCY_ENUM,
    MAX_AMOUNT,
    Amount,
    Identifier,
    Name,
    NonStandardNumber,
    OversizeNumber,
    UtcDatetime,
    amount_schema,
    canonical_ip,
    codes_with,
    pii,
    refusal,
)

CONTRACT_VERSION = "1.2.0"  # 1.1: the acceptance rules (issue 20); 1.2: status chargeback, versions (issue 25)

__all__ = [
    "CARD_METHODS",
    "EARLIEST_EVENT",
    "MAX_AMOUNT",
    "MAX_TRANSACTION_BYTES",
    "Gateway",
    "ItemPurchased",
    "ItemType",
    "NonStandardNumber",
    "OversizeNumber",
    "PaymentDetails",
    "PaymentMethod",
    "Price",
    "ServerRegion",
    "Transaction",
    "TransactionStatus",
]


class ItemType(StrEnum):
    COSMETIC = "cosmetic"
    CURRENCY = "currency"
    BATTLE_PASS = "battle_pass"  # noqa: S105 - an item type, not a password
    LOOT_BOX = "loot_box"
    BUNDLE = "bundle"
    BOOST = "boost"
    CHARACTER = "character"
    EMOTE = "emote"


class PaymentMethod(StrEnum):
    CREDIT_CARD = "credit_card"
    DEBIT_CARD = "debit_card"
    PAYPAL = "paypal"
    APPLE_PAY = "apple_pay"
    GOOGLE_PAY = "google_pay"
    GIFT_CARD = "gift_card"
    STORE_WALLET = "store_wallet"
    BANK_TRANSFER = "bank_transfer"


#: Payment methods that carry a card and therefore a ``card_last4``.
CARD_METHODS = frozenset({PaymentMethod.CREDIT_CARD, PaymentMethod.DEBIT_CARD})


class TransactionStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUNDED = "refunded"
    CHARGEBACK = "chargeback"


class Gateway(StrEnum):
    STRIPE = "Stripe"
    ADYEN = "Adyen"
    PAYPAL = "PayPal"
    BRAINTREE = "Braintree"
    XSOLLA = "Xsolla"
    WORLDPAY = "Worldpay"


class ServerRegion(StrEnum):
    EU_WEST = "EU-West"
    EU_EAST = "EU-East"
    NA_EAST = "NA-East"
    NA_WEST = "NA-West"
    SA_EAST = "SA-East"
    ASIA_PACIFIC = "Asia-Pacific"
    OCEANIA = "Oceania"
    MIDDLE_EAST = "Middle-East"


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(
        description="ISO 4217 currency code, upper case",
        examples=["USD"],
        json_schema_extra={"enum": CURRENCY_ENUM},
    )
    amount: Amount = Field(
        description="Price paid, in the currency's major unit: a JSON number (never a string), positive, at most"
        f" 10000000, with no more decimals than the currency's minor units (0: {codes_with(0)}; 3: {codes_with(3)};"
        " every other currency 2)",
        examples=[10],
        json_schema_extra=amount_schema,
    )

    @field_validator("currency")
    @classmethod
    def currency_code(cls, value: str) -> str:
        if value not in ISO_4217_CODES:
            raise refusal("currency.code", "is not an ISO 4217 currency code (an active one, upper case)")
        return value

    @field_validator("amount", mode="after")
    @classmethod
    def amount_rules(cls, amount: Decimal, info: ValidationInfo) -> Decimal:
        if amount <= 0:
            raise refusal("amount.positive", "amount must be positive")
        if amount > MAX_AMOUNT:
            raise refusal("amount.maximum", f"amount is above the {MAX_AMOUNT} limit for one transaction")
        currency = info.data.get("currency")
        if currency in MINOR_UNITS:
            places = MINOR_UNITS[currency]
            if amount != amount.quantize(Decimal(1).scaleb(-places)):
                raise refusal("amount.minor_units", f"amount has more decimals than {currency} allows ({places})")
        return amount


class ItemPurchased(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item_id: Identifier = Field(examples=["mtx_abyssal_wings"])
    item_name: Name = Field(examples=["Abyssal Wings"])
    item_type: ItemType
    price: Price


def _payment_schema(schema: dict[str, Any]) -> None:
    """card_last4 present (a string) for card methods, absent or null for the others (JSON Schema draft 4)."""
    cards = sorted(m.value for m in CARD_METHODS)
    others = [m.value for m in PaymentMethod if m not in CARD_METHODS]
    schema["anyOf"] = [
        {
            "properties": {"payment_method": {"enum": cards}, "card_last4": {"type": "string"}},
            "required": ["card_last4"],
        },
        {"properties": {"payment_method": {"enum": others}, "card_last4": {"type": "null"}}},
    ]


class PaymentDetails(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_payment_schema)

    payment_method: PaymentMethod
    card_last4: str | None = Field(
        default=None,
        validate_default=True,
        description="Last four digits of the card; present only for card payments",
        json_schema_extra={**pii("card"), "anyOf": [{"type": "string", "pattern": "^[0-9]{4}$"}, {"type": "null"}]},
    )
    transaction_status: TransactionStatus
    gateway: Gateway

    @field_validator("card_last4", mode="after")
    @classmethod
    def card_last4_rules(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not (len(value) == 4 and value.isascii() and value.isdigit()):
            raise refusal("card.last4_format", "card_last4 must be exactly four digits")
        method = info.data.get("payment_method")
        if method is None:  # refused on its own field
            return value
        if method in CARD_METHODS and value is None:
            raise refusal("card.last4_required", f"card_last4 is required when payment_method is {method.value}")
        if method not in CARD_METHODS and value is not None:
            raise refusal("card.last4_absent", f"card_last4 must be absent when payment_method is {method.value}")
        return value


class Transaction(BaseModel):
    """One item-shop purchase, as a game server reports it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, title="Transaction")

    transaction_id: Identifier = Field(alias="transactionId", examples=["1"])
    user_id: Identifier = Field(description="Game account id (kept for lifetime value)", examples=["user_987654321"])
    game: Name = Field(examples=["Path Of Exile 2"])
    item_purchased: ItemPurchased
    payment_details: PaymentDetails
    event_timestamp: UtcDatetime = Field(
        description="When the purchase happened: RFC 3339 with a timezone (at most 6 fraction digits), stored in"
        " UTC; not before 2000-01-01T00:00:00Z and at most 24 hours (MTX_MAX_FUTURE_SKEW_HOURS) after the entrance"
        " received it",
        json_schema_extra={"pattern": TIMESTAMP_PATTERN},
    )
    server_region: ServerRegion
    client_ip: Annotated[str, AfterValidator(canonical_ip)] = Field(
        description="The player's IP address: IPv4 or IPv6, no zone id",
        json_schema_extra={
            **pii("ip"), "maxLength": MAX_IP_CHARS, "pattern": "^[0-9A-Fa-f:.]+$",
            "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
        },
    )  # fmt: skip

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form: seed field names, amounts as JSON numbers, UTC timestamps."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
