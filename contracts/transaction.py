"""The transaction contract: the single source of truth for every consumer.

The Lambda validator, the PII-stripping rule, the Spark schema of the Glue job,
the warehouse DDL, dbt column types and the Great Expectations suites all come
from the models and tables in this package.

Money is ``Decimal`` (JSON numbers are parsed with ``parse_float=Decimal``);
currencies are ISO 4217 with their minor units; timestamps are timezone-aware
and normalised to UTC. Unknown fields are refused (``extra="forbid"``): a field
the contract does not know could carry personal data into analytics.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from contracts.currencies import ISO_4217_CODES, MINOR_UNITS

CONTRACT_VERSION = "1.0.0"

#: Upper bound for a single micro-transaction amount, in the currency's major unit.
#: Anything above is "absurd" for an item shop (also in IDR or KRW-sized currencies).
MAX_AMOUNT = Decimal("10000000")
#: One transaction as sent, in bytes: every entrance refuses a larger record (a valid one is under 1 KB). In AWS
#: the API's WAF (common rule set, SizeRestrictions_BODY) blocks a body over 8 KB; the file entrance
#: quarantines such a record alone. It keeps every state's data far below Step Functions' 256 KB and every
#: dead letter below SQS's 256 KB.
MAX_TRANSACTION_BYTES = 8 * 1024
EARLIEST_EVENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


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


def pii(kind: str) -> dict[str, Any]:
    """JSON-Schema extra marking a field as personal data of the given kind."""
    return {"x-pii": kind}


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]


def _money_out(value: Decimal) -> float | int:
    # A JSON number with exactly the decimal's digits: amounts are bounded (< 1e8)
    # with at most 3 decimals, so the shortest float repr round-trips exactly.
    return int(value) if value == value.to_integral_value() else float(value)


Amount = Annotated[Decimal, PlainSerializer(_money_out, return_type=Any, when_used="json")]


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(description="ISO 4217 currency code, upper case", examples=["USD"])
    amount: Amount = Field(
        description="Price paid, in the currency's major unit; positive, at most the currency's minor units",
        examples=[10],
    )

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        if value not in ISO_4217_CODES:
            raise ValueError("is not an ISO 4217 currency code")
        return value

    @field_validator("amount", mode="before")
    @classmethod
    def _no_bool_or_float_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("amount must be a number, not a boolean")
        if isinstance(value, float):
            return Decimal(repr(value))
        return value

    @field_validator("amount", mode="after")
    @classmethod
    def _amount_rules(cls, amount: Decimal, info: ValidationInfo) -> Decimal:
        if not amount.is_finite():
            raise ValueError("amount must be a finite number")
        if amount <= 0:
            raise ValueError("amount must be positive")
        if amount > MAX_AMOUNT:
            raise ValueError(f"amount is above the {MAX_AMOUNT} limit for one transaction")
        currency = info.data.get("currency")
        if currency in MINOR_UNITS:
            places = MINOR_UNITS[currency]
            if amount != amount.quantize(Decimal(1).scaleb(-places)):
                raise ValueError(f"amount has more decimals than {currency} allows ({places})")
        return amount


class ItemPurchased(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item_id: Identifier = Field(examples=["mtx_abyssal_wings"])
    item_name: Name = Field(examples=["Abyssal Wings"])
    item_type: ItemType
    price: Price


def _last4(value: str | None) -> str | None:
    if value is not None and not (len(value) == 4 and value.isascii() and value.isdigit()):
        raise ValueError("card_last4 must be exactly four digits")
    return value


class PaymentDetails(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    payment_method: PaymentMethod
    card_last4: Annotated[str | None, AfterValidator(_last4)] = Field(
        default=None,
        description="Last four digits of the card; present only for card payments",
        json_schema_extra=pii("card"),
    )
    transaction_status: TransactionStatus
    gateway: Gateway

    @model_validator(mode="after")
    def _card_needs_last4(self) -> PaymentDetails:
        if self.payment_method in CARD_METHODS and self.card_last4 is None:
            raise ValueError(f"card_last4 is required when payment_method is {self.payment_method.value}")
        if self.payment_method not in CARD_METHODS and self.card_last4 is not None:
            raise ValueError(f"card_last4 must be absent when payment_method is {self.payment_method.value}")
        return self


_DATE_TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")


def _date_time_text(value: Any) -> Any:
    # pydantic's lax mode would read a number (or a string of digits) as Unix time: the
    # schema says an RFC 3339 string with a timezone, so the validator says so too.
    if isinstance(value, dt.datetime) or (isinstance(value, str) and _DATE_TIME_TEXT.match(value)):
        return value
    raise ValueError("event_timestamp must be an ISO 8601 date-time string with a timezone")


def _utc(value: dt.datetime) -> dt.datetime:
    value = value.astimezone(dt.UTC)
    if value < EARLIEST_EVENT:
        raise ValueError(f"event_timestamp is before {EARLIEST_EVENT.date()}")
    return value


_CANONICAL_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)")


def _ip(value: str) -> str:
    """The canonical text of an IPv4 or IPv6 address. The message never quotes the value (an IP is PII).

    An IPv6 zone id (``fe80::1%eth0``) is refused: it is the sender's interface name, of any length and
    content (Python's parser takes anything after the ``%``), not part of a client's address, and the
    compliance store's ``inet`` column cannot hold it (one such record used to fail a whole COPY)."""
    if _CANONICAL_IPV4.fullmatch(value):  # the common case, already in canonical form
        return value
    if "%" in value:
        raise ValueError("is an IPv6 address with a zone id (%...); send the address without it")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("is not an IPv4 or IPv6 address") from None


UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(_date_time_text),
    AfterValidator(_utc),
    PlainSerializer(lambda v: v.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z"), return_type=str),
]


class Transaction(BaseModel):
    """One item-shop purchase, as a game server reports it (seed 000)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, title="Transaction")

    transaction_id: Identifier = Field(alias="transactionId", examples=["1"])
    user_id: Identifier = Field(description="Game account id (kept for lifetime value)", examples=["user_987654321"])
    game: Name = Field(examples=["Path Of Exile 2"])
    item_purchased: ItemPurchased
    payment_details: PaymentDetails
    event_timestamp: UtcDatetime = Field(description="When the purchase happened, timezone-aware, stored in UTC")
    server_region: ServerRegion
    client_ip: Annotated[str, AfterValidator(_ip)] = Field(
        description="The player's IP address", json_schema_extra=pii("ip")
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form: seed field names, amounts as JSON numbers, UTC timestamps."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
