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
    JsonValue,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from contracts import acceptance
from contracts.acceptance import (
    EARLIEST_EVENT,
    IDENTIFIER,
    IDENTIFIER_PATTERN,
    MAX_ID_CHARS,
    MAX_IP_CHARS,
    MAX_NAME_CHARS,
    MAX_TRANSACTION_BYTES,
    SCHEMA_FORBIDDEN_CHARS,
    SPACE_CHARS,
    TIMESTAMP_PATTERN,
    TIMESTAMP_TEXT,
    Window,
    text_violation,
)
from contracts.currencies import ISO_4217_CODES, MINOR_UNITS

CONTRACT_VERSION = "1.1.0"  # 1.1: the acceptance rules of contracts/acceptance.py (issue 20); same shape

#: Upper bound for a single micro-transaction amount, in the currency's major unit.
#: Anything above is "absurd" for an item shop (also in IDR or KRW-sized currencies).
MAX_AMOUNT = Decimal("10000000")

__all__ = ["EARLIEST_EVENT", "MAX_AMOUNT", "MAX_TRANSACTION_BYTES", "Transaction"]


def refusal(code: str, reason: str) -> PydanticCustomError:
    """A contract violation: pydantic carries ``code`` as the error type, ``reason`` as its message."""
    assert code in acceptance.RULE_BY_CODE, code
    return PydanticCustomError(code, "{reason}", {"reason": reason})


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


def _identifier(value: str) -> str:
    if not 0 < len(value) <= MAX_ID_CHARS:
        raise refusal("id.length", f"must be 1 to {MAX_ID_CHARS} characters")
    if not IDENTIFIER.fullmatch(value):
        raise refusal("id.characters", "may hold only ASCII letters, digits and _ . : -")
    return value


_TEXT_REASONS = {
    "text.unicode": "is not valid Unicode text (a lone surrogate or a noncharacter)",
    "text.control": "holds a control character or a line separator",
    "text.bidi": "holds a bidirectional formatting character",
    "text.invisible": "holds an invisible format character (zero-width space, soft hyphen, BOM, ...)",
}


def _name(value: str) -> str:
    code = text_violation(value)
    if code is not None:
        raise refusal(code, _TEXT_REASONS[code])
    value = value.strip()
    if not 0 < len(value) <= MAX_NAME_CHARS:
        raise refusal("text.length", f"must be 1 to {MAX_NAME_CHARS} characters once surrounding spaces are trimmed")
    return value


#: Names in JSON Schema: no forbidden character, and something besides spaces (draft 4: no lookahead, no ``not``).
_ALLOWED = f"[^{SCHEMA_FORBIDDEN_CHARS}]"
NAME_PATTERN = f"^{_ALLOWED}*[^{SCHEMA_FORBIDDEN_CHARS}{SPACE_CHARS}]{_ALLOWED}*$"

Identifier = Annotated[
    str,
    AfterValidator(_identifier),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": IDENTIFIER_PATTERN}),
]
Name = Annotated[
    str,
    AfterValidator(_name),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_NAME_CHARS,
            "pattern": NAME_PATTERN,
            "description": "1 to 120 characters once surrounding spaces are trimmed; no control, bidirectional"
            " formatting or invisible format character (docs/acceptance-rules.md)",
        }
    ),
]


def _money_out(value: Decimal) -> float | int:
    # A JSON number with exactly the decimal's digits: amounts are bounded (< 1e8)
    # with at most 3 decimals, so the shortest float repr round-trips exactly.
    return int(value) if value == value.to_integral_value() else float(value)


class NonStandardNumber:
    """What the contract's parser puts where the JSON text has NaN, Infinity or -Infinity (not JSON numbers):
    the field that holds it is then refused by name (``number.not_json``)."""

    __slots__ = ()


class OversizeNumber:
    """What the contract's parser puts where a JSON number is longer than ``MAX_NUMBER_CHARS`` or out of the
    decimal range: the field that holds it is then refused by name (``number.too_long``)."""

    __slots__ = ()


def _number_in(value: Any) -> Any:
    """The amount as a Decimal, exactly as written; anything but a JSON number is refused."""
    if isinstance(value, NonStandardNumber):
        raise refusal("number.not_json", "NaN and Infinity are not JSON numbers")
    if isinstance(value, OversizeNumber):
        raise refusal("number.too_long", f"a number is at most {acceptance.MAX_NUMBER_CHARS} characters")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise refusal("amount.number", "must be a JSON number (not a string, a boolean or null)")
    if isinstance(value, float):  # an already-parsed event (Lambda runtimes parse JSON with floats)
        value = Decimal(repr(value))
    elif isinstance(value, int):
        value = Decimal(value)
    if not value.is_finite():
        raise refusal("amount.finite", "must be a finite number")
    return value


Amount = Annotated[Decimal, BeforeValidator(_number_in), PlainSerializer(_money_out, return_type=Any, when_used="json")]


def _codes_with(places: int) -> str:
    return " ".join(sorted(code for code, n in MINOR_UNITS.items() if n == places))


def _amount_schema(schema: dict[str, Any]) -> None:
    """A JSON number (pydantic would also document a numeric string, which the contract refuses). The
    minor-unit rule stays in the description: ``multipleOf: 0.01`` is not exact on binary floats (19.99 /
    0.01 is not an integer in IEEE 754) and API Gateway models are JSON Schema draft 4."""
    schema.pop("anyOf", None)
    schema.update({"type": "number", "minimum": 0.001, "maximum": int(MAX_AMOUNT), "x-minor-units": "per currency"})


_CURRENCY_ENUM: list[JsonValue] = [*sorted(ISO_4217_CODES)]


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(
        description="ISO 4217 currency code, upper case",
        examples=["USD"],
        json_schema_extra={"enum": _CURRENCY_ENUM},
    )
    amount: Amount = Field(
        description="Price paid, in the currency's major unit: a JSON number (never a string), positive, at most"
        f" 10000000, with no more decimals than the currency's minor units (0: {_codes_with(0)}; 3: {_codes_with(3)};"
        " every other currency 2)",
        examples=[10],
        json_schema_extra=_amount_schema,
    )

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str) -> str:
        if value not in ISO_4217_CODES:
            raise refusal("currency.code", "is not an ISO 4217 currency code (an active one, upper case)")
        return value

    @field_validator("amount", mode="after")
    @classmethod
    def _amount_rules(cls, amount: Decimal, info: ValidationInfo) -> Decimal:
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
    def _last4(cls, value: str | None, info: ValidationInfo) -> str | None:
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


def _date_time_text(value: Any) -> Any:
    # pydantic's lax mode would read a number (or a string of digits) as Unix time, a space for the T and
    # nanoseconds (cut to microseconds): the contract reads RFC 3339 with a zone and at most 6 fraction digits.
    if isinstance(value, dt.datetime) or (isinstance(value, str) and TIMESTAMP_TEXT.fullmatch(value)):
        return value
    raise refusal(
        "timestamp.format",
        "event_timestamp must be an RFC 3339 (ISO 8601) date-time string with a timezone, at most 6 fraction digits",
    )


def _utc(value: dt.datetime, info: ValidationInfo) -> dt.datetime:
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 shifted by its offset out of the calendar
        utc = dt.datetime.min.replace(tzinfo=dt.UTC) if value.year < 2000 else dt.datetime.max.replace(tzinfo=dt.UTC)
    window = (info.context or {}).get("window") or Window.at()
    if utc < window.earliest:
        raise refusal("timestamp.too_early", f"event_timestamp is before {window.earliest.date()}")
    if utc > window.latest:
        raise refusal(
            "timestamp.in_future", f"event_timestamp is more than {window.hours()} hours after the record was received"
        )
    return utc


_CANONICAL_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)", re.ASCII
)


def _ip(value: str) -> str:
    """The canonical text of an IPv4 or IPv6 address. The message never quotes the value (an IP is PII).

    An IPv6 zone id (``fe80::1%eth0``) is refused: it is the sender's interface name, of any length and
    content (Python's parser takes anything after the ``%``), not part of a client's address, and the
    compliance store's ``inet`` column cannot hold it (one such record used to fail a whole COPY)."""
    if _CANONICAL_IPV4.fullmatch(value):  # the common case, already in canonical form
        return value
    if "%" in value:
        raise refusal("ip.zone_id", "is an IPv6 address with a zone id (%...); send the address without it")
    if len(value) > MAX_IP_CHARS or not value.isascii():
        raise refusal("ip.format", "is not an IPv4 or IPv6 address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise refusal("ip.format", "is not an IPv4 or IPv6 address") from None


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
    event_timestamp: UtcDatetime = Field(
        description="When the purchase happened: RFC 3339 with a timezone (at most 6 fraction digits), stored in"
        " UTC; not before 2000-01-01T00:00:00Z and at most 24 hours (MTX_MAX_FUTURE_SKEW_HOURS) after the entrance"
        " received it",
        json_schema_extra={"pattern": TIMESTAMP_PATTERN},
    )
    server_region: ServerRegion
    client_ip: Annotated[str, AfterValidator(_ip)] = Field(
        description="The player's IP address: IPv4 or IPv6, no zone id",
        json_schema_extra={
            **pii("ip"), "maxLength": MAX_IP_CHARS, "pattern": "^[0-9A-Fa-f:.]+$",
            "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
        },
    )  # fmt: skip

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form: seed field names, amounts as JSON numbers, UTC timestamps."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
