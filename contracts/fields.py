"""The contract's field types and the rules each applies, as public functions.

Every rule refuses with a stable code of ``contracts/acceptance.py`` and a sentence naming the rule,
never the value. The models (``contracts/transaction.py``) are built from these types; the bulk
shortcut (``lambdas/common/fast_contract.py``) re-states the same rules and pins itself to them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    JsonValue,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from contracts import acceptance
from contracts.acceptance import (
    IDENTIFIER,
    IDENTIFIER_PATTERN,
    MAX_ID_CHARS,
    MAX_IP_CHARS,
    MAX_NAME_CHARS,
    SCHEMA_FORBIDDEN_CHARS,
    SPACE_CHARS,
    TIMESTAMP_TEXT,
    Window,
    text_violation,
)
from contracts.currencies import ISO_4217_CODES, MINOR_UNITS

#: Upper bound for a single micro-transaction amount, in the currency's major unit.
#: Anything above is "absurd" for an item shop (also in IDR or KRW-sized currencies).
MAX_AMOUNT = Decimal("10000000")


def refusal(code: str, reason: str) -> PydanticCustomError:
    """A contract violation: pydantic carries ``code`` as the error type, ``reason`` as its message."""
    assert code in acceptance.RULE_BY_CODE, code
    return PydanticCustomError(code, "{reason}", {"reason": reason})


def pii(kind: str) -> dict[str, Any]:
    """JSON-Schema extra marking a field as personal data of the given kind."""
    return {"x-pii": kind}


def identifier(value: str) -> str:
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


def trimmed_name(value: str) -> str:
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
    AfterValidator(identifier),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": IDENTIFIER_PATTERN}),
]
Name = Annotated[
    str,
    AfterValidator(trimmed_name),
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


def money_out(value: Decimal) -> float | int:
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


def number_in(value: Any) -> Any:
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


Amount = Annotated[Decimal, BeforeValidator(number_in), PlainSerializer(money_out, return_type=Any, when_used="json")]


def codes_with(places: int) -> str:
    return " ".join(sorted(code for code, n in MINOR_UNITS.items() if n == places))


def amount_schema(schema: dict[str, Any]) -> None:
    """A JSON number (pydantic would also document a numeric string, which the contract refuses). The
    minor-unit rule stays in the description: ``multipleOf: 0.01`` is not exact on binary floats (19.99 /
    0.01 is not an integer in IEEE 754) and API Gateway models are JSON Schema draft 4."""
    schema.pop("anyOf", None)
    schema.update({"type": "number", "minimum": 0.001, "maximum": int(MAX_AMOUNT), "x-minor-units": "per currency"})


CURRENCY_ENUM: list[JsonValue] = [*sorted(ISO_4217_CODES)]


def date_time_text(value: Any) -> Any:
    # pydantic's lax mode would read a number (or a string of digits) as Unix time, a space for the T and
    # nanoseconds (cut to microseconds): the contract reads RFC 3339 with a zone and at most 6 fraction digits.
    if isinstance(value, dt.datetime) or (isinstance(value, str) and TIMESTAMP_TEXT.fullmatch(value)):
        return value
    raise refusal(
        "timestamp.format",
        "event_timestamp must be an RFC 3339 (ISO 8601) date-time string with a timezone, at most 6 fraction digits",
    )


def to_utc(value: dt.datetime, info: ValidationInfo) -> dt.datetime:
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


CANONICAL_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)", re.ASCII
)


def canonical_ip(value: str) -> str:
    """The canonical text of an IPv4 or IPv6 address. The message never quotes the value (an IP is PII).

    An IPv6 zone id (``fe80::1%eth0``) is refused: it is the sender's interface name, of any length and
    content (Python's parser takes anything after the ``%``), not part of a client's address, and the
    compliance store's ``inet`` column cannot hold it (one such record used to fail a whole COPY)."""
    if CANONICAL_IPV4.fullmatch(value):  # the common case, already in canonical form
        return value
    if "%" in value:
        raise refusal("ip.zone_id", "is an IPv6 address with a zone id (%...); send the address without it")
    if len(value) > MAX_IP_CHARS or not value.isascii():
        raise refusal("ip.format", "is not an IPv4 or IPv6 address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise refusal("ip.format", "is not an IPv4 or IPv6 address") from None


def utc_text(value: dt.datetime) -> str:
    """A UTC time on the wire: ``YYYY-MM-DDTHH:MM:SSZ``, with the microseconds when they are not zero."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(date_time_text),
    AfterValidator(to_utc),
    PlainSerializer(utc_text, return_type=str),
]
