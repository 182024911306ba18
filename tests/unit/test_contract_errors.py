"""The transaction contract: the sample payload, clear errors naming the field, UTC, Decimal money, PII."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from contracts import (
    PII_FIELDS,
    InvalidTransaction,
    strip_pii,
    to_analytics_record,
    validate_transaction,
)
from contracts.schema import SCHEMA_PATH, render

pytestmark = pytest.mark.unit

# The example transaction of the original product brief, verbatim.
SAMPLE_TRANSACTION_TEXT = """
{
    "transactionId": "1",
    "user_id": "user_987654321",
    "game": "Path Of Exile 2",
    "item_purchased": {
        "item_id": "mtx_abyssal_wings",
        "item_name": "Abyssal Wings",
        "item_type": "cosmetic",
        "price": {
            "currency": "USD",
             "amount": 10
            }
        },
    "payment_details": {
        "payment_method": "credit_card",
        "card_last4": "1234",
        "transaction_status": "pending",
        "gateway": "Stripe"
    },
    "event_timestamp": "2025-02-09T12:34:56Z",
    "server_region": "EU-West",
    "client_ip": "192.168.1.1"
}
"""


def sample() -> dict[str, Any]:
    return json.loads(SAMPLE_TRANSACTION_TEXT)


def changed(path: str, value: Any) -> dict[str, Any]:
    """The sample with the dotted path set to value (``...`` deletes it)."""
    record = sample()
    *parents, last = path.split(".")
    node = record
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return record


def errors_of(raw: Any) -> InvalidTransaction:
    with pytest.raises(InvalidTransaction) as caught:
        validate_transaction(raw)
    return caught.value


def test_seed_payload_validates() -> None:
    tx = validate_transaction(SAMPLE_TRANSACTION_TEXT)
    assert tx.transaction_id == "1"
    assert tx.user_id == "user_987654321"
    assert tx.item_purchased.item_id == "mtx_abyssal_wings"
    assert tx.item_purchased.price.amount == Decimal("10")
    assert tx.event_timestamp == dt.datetime(2025, 2, 9, 12, 34, 56, tzinfo=dt.UTC)
    assert tx.payment_details.card_last4 == "1234"
    # bytes, text and an already-parsed dict give the same transaction
    assert validate_transaction(SAMPLE_TRANSACTION_TEXT.encode()) == tx == validate_transaction(sample())


def test_seed_payload_round_trips_through_the_wire_form() -> None:
    tx = validate_transaction(SAMPLE_TRANSACTION_TEXT)
    wire = tx.to_json_dict()
    assert wire == sample()
    assert validate_transaction(json.dumps(wire)) == tx


@pytest.mark.parametrize(
    ("raw", "field", "words", "rule"),
    [
        pytest.param(
            SAMPLE_TRANSACTION_TEXT[:-40], "$", "malformed JSON", "json.malformed", id="malformed_json-truncated"
        ),
        pytest.param(
            "{'transactionId': '1'}", "$", "malformed JSON", "json.malformed", id="malformed_json-single-quotes"
        ),
        pytest.param("[1, 2]", "$", "must be a JSON object", "json.not_object", id="not-an-object"),
        pytest.param(changed("user_id", ...), "user_id", "is required", "field.required", id="missing_field-user_id"),
        pytest.param(
            changed("item_purchased.price.currency", ...),
            "item_purchased.price.currency",
            "is required",
            "field.required",
            id="missing_field-currency",
        ),
        pytest.param(
            changed("payment_details.gateway", ...),
            "payment_details.gateway",
            "is required",
            "field.required",
            id="missing-gateway",
        ),
        pytest.param(
            changed("item_purchased.price.amount", "ten"),
            "item_purchased.price.amount",
            "JSON number",
            "amount.number",
            id="mistyped_field-amount-text",
        ),
        pytest.param(
            changed("user_id", 987654321), "user_id", "valid string", "field.type", id="mistyped_field-user_id-number"
        ),
        pytest.param(
            changed("item_purchased", [sample()["item_purchased"]]),
            "item_purchased",
            "valid dictionary",
            "field.type",
            id="mistyped_field-item_purchased-list",
        ),
        pytest.param(
            changed("item_purchased.price.amount", True),
            "item_purchased.price.amount",
            "a boolean",
            "amount.number",
            id="mistyped_field-amount-bool",
        ),
        pytest.param(
            changed("item_purchased.price.amount", -10),
            "item_purchased.price.amount",
            "must be positive",
            "amount.positive",
            id="negative_amount",
        ),
        pytest.param(
            changed("item_purchased.price.amount", 0),
            "item_purchased.price.amount",
            "must be positive",
            "amount.positive",
            id="zero",
        ),
        pytest.param(
            changed("item_purchased.price.amount", 10**12),
            "item_purchased.price.amount",
            "above the",
            "amount.maximum",
            id="absurd_amount",
        ),
        pytest.param(
            changed("item_purchased.price.currency", "XYZ"),
            "item_purchased.price.currency",
            "not an ISO 4217 currency code",
            "currency.code",
            id="unknown_currency",
        ),
        pytest.param(
            changed("item_purchased.price.currency", "usd"),
            "item_purchased.price.currency",
            "not an ISO 4217 currency code",
            "currency.code",
            id="unknown_currency-lower-case",
        ),
        pytest.param(
            changed("item_purchased.item_type", "mount"),
            "item_purchased.item_type",
            "Input should be",
            "enum.value",
            id="enum",
        ),
        pytest.param(
            changed("client_ip", "999.1.1.1"), "client_ip", "not an IPv4 or IPv6 address", "ip.format", id="ip"
        ),
        pytest.param(changed("client_ip", "fe80::1%eth0"), "client_ip", "zone id", "ip.zone_id", id="ip-zone-id"),
        pytest.param(
            changed("client_ip", "fe80::1%" + "\t\\\n" + "x" * 200_000),
            "client_ip",
            "zone id",
            "ip.zone_id",
            id="ip-zone-id-hostile",
        ),
        pytest.param(
            changed("payment_details.card_last4", "12a4"),
            "payment_details.card_last4",
            "exactly four digits",
            "card.last4_format",
            id="card_last4-format",
        ),
    ],
)
def test_each_invalid_kind_names_the_field(raw: Any, field: str, words: str, rule: str) -> None:
    exc = errors_of(raw)
    assert [(e.field, e.rule) for e in exc.errors] == [(field, rule)]
    assert words in exc.errors[0].reason
    if field == "client_ip":  # an IP address is PII: the message names the rule, never the value
        sent = raw["client_ip"] if isinstance(raw, dict) else ""
        assert sent and sent[:12] not in str(exc) and len(str(exc)) < 500
    message = str(exc)
    assert message.startswith("invalid transaction: ")
    assert f"{field}: " in message
    as_dict = exc.to_dict()
    assert as_dict["error"] == "InvalidTransaction"
    assert as_dict["fields"] == [{"field": field, "rule": rule, "reason": exc.errors[0].reason}]
    assert f"[{rule}]" in message  # every sink that keeps only the message still names the rule


def test_error_carries_the_transaction_id_when_readable() -> None:
    assert errors_of(changed("item_purchased.price.amount", -1)).transaction_id == "1"
    assert errors_of(changed("transactionId", 1)).transaction_id is None
    assert errors_of(SAMPLE_TRANSACTION_TEXT[:50]).transaction_id is None


def test_several_problems_are_all_reported() -> None:
    record = changed("user_id", ...)
    record["item_purchased"]["price"]["amount"] = -5
    record["client_ip"] = "nope"
    fields = {e.field for e in errors_of(record).errors}
    assert fields == {"user_id", "item_purchased.price.amount", "client_ip"}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("coupon_code", "coupon_code"),
        ("item_purchased.rarity", "item_purchased.rarity"),
        ("payment_details.card_number", "payment_details.card_number"),
    ],
)
def test_an_extra_unknown_field_is_refused(path: str, field: str) -> None:
    exc = errors_of(changed(path, "4111111111111111"))
    assert [(e.field, e.reason) for e in exc.errors] == [(field, "is not a field of the transaction contract")]


@pytest.mark.parametrize("stamp", ["2025-02-09T12:34:56", "2025-02-09 12:34:56", "2025-02-09"])
def test_a_timestamp_without_timezone_is_refused(stamp: str) -> None:
    exc = errors_of(changed("event_timestamp", stamp))
    assert [e.field for e in exc.errors] == ["event_timestamp"]


@pytest.mark.parametrize("stamp", [1739104496, 1739104496.0, "1739104496"])
def test_a_unix_epoch_is_not_a_timestamp(stamp: Any) -> None:
    # The schema says an RFC 3339 string; pydantic's lax mode alone would accept Unix time.
    exc = errors_of(changed("event_timestamp", stamp))
    assert [e.field for e in exc.errors] == ["event_timestamp"]
    assert "ISO 8601" in exc.errors[0].reason


@pytest.mark.parametrize(
    ("stamp", "wire"),
    [
        ("2025-02-09T14:34:56+02:00", "2025-02-09T12:34:56Z"),
        ("2025-02-09T07:34:56-05:00", "2025-02-09T12:34:56Z"),
        ("2025-02-10T02:04:56.250+13:30", "2025-02-09T12:34:56.250000Z"),
        ("2025-02-09T12:34:56+00:00", "2025-02-09T12:34:56Z"),
    ],
)
def test_a_non_utc_offset_is_normalised_to_utc(stamp: str, wire: str) -> None:
    tx = validate_transaction(changed("event_timestamp", stamp))
    assert tx.event_timestamp.utcoffset() == dt.timedelta(0)
    assert tx.event_timestamp.tzinfo == dt.UTC
    assert tx.to_json_dict()["event_timestamp"] == wire


def test_a_timestamp_before_2000_is_refused() -> None:
    exc = errors_of(changed("event_timestamp", "1999-12-31T23:59:59Z"))
    assert [e.field for e in exc.errors] == ["event_timestamp"]


@pytest.mark.parametrize("amount_text", ["19.99", "0.10", "0.30", "1234567.89", "1e1"])
def test_json_floats_never_become_binary_floats(amount_text: str) -> None:
    raw = SAMPLE_TRANSACTION_TEXT.replace('"amount": 10', f'"amount": {amount_text}')
    tx = validate_transaction(raw)
    amount = tx.item_purchased.price.amount
    assert type(amount) is Decimal
    assert amount == Decimal(amount_text)
    # Writing the wire form and reading it back keeps the exact decimal.
    again = validate_transaction(json.dumps(tx.to_json_dict()))
    assert again.item_purchased.price.amount == Decimal(amount_text)


def test_a_python_float_becomes_its_shortest_decimal_not_its_binary_expansion() -> None:
    # An already-parsed event (Lambda runtimes parse JSON with floats) keeps the number as written.
    tx = validate_transaction(changed("item_purchased.price.amount", 19.99))
    amount = tx.item_purchased.price.amount
    assert amount == Decimal("19.99")
    assert amount != Decimal.from_float(19.99)  # 19.989999999999998436805981327779591083526611328125
    # Float noise is refused, not silently rounded.
    exc = errors_of(changed("item_purchased.price.amount", 0.1 + 0.2))
    assert [e.field for e in exc.errors] == ["item_purchased.price.amount"]
    assert "more decimals than USD allows" in exc.errors[0].reason
    assert "0.3" not in exc.errors[0].reason  # the rule, never the value


def test_money_respects_the_currency_minor_units() -> None:
    jpy = changed("item_purchased.price.currency", "JPY")
    jpy["item_purchased"]["price"]["amount"] = 1500
    assert validate_transaction(jpy).item_purchased.price.amount == Decimal(1500)
    jpy["item_purchased"]["price"]["amount"] = Decimal("1500.5")
    assert [e.field for e in errors_of(jpy).errors] == ["item_purchased.price.amount"]
    usd = changed("item_purchased.price.amount", Decimal("9.999"))
    assert "more decimals than USD allows (2)" in errors_of(usd).errors[0].reason


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_amounts_are_refused(amount: str) -> None:
    raw = SAMPLE_TRANSACTION_TEXT.replace('"amount": 10', f'"amount": {amount}')
    assert [e.field for e in errors_of(raw).errors] == ["item_purchased.price.amount"]


def test_card_last4_only_with_card_payments() -> None:
    no_card = changed("payment_details.card_last4", ...)
    assert "card_last4 is required" in errors_of(no_card).errors[0].reason
    paypal = changed("payment_details.payment_method", "paypal")
    assert "card_last4 must be absent" in errors_of(paypal).errors[0].reason
    del paypal["payment_details"]["card_last4"]
    assert "card_last4" not in validate_transaction(paypal).to_json_dict()["payment_details"]


def test_committed_json_schema_matches_the_model() -> None:
    assert SCHEMA_PATH.read_text() == render(), "contract drift: run `make schema` and commit the result"


def test_pii_tags_come_from_the_contract() -> None:
    assert PII_FIELDS == {("payment_details", "card_last4"): "card", ("client_ip",): "ip"}
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["properties"]["client_ip"]["x-pii"] == "ip"


def test_strip_pii_removes_card_and_ip_and_keeps_user_id() -> None:
    record = sample()
    before = copy.deepcopy(record)
    stripped = strip_pii(record)
    assert record == before, "strip_pii must not modify its input"
    assert "client_ip" not in stripped
    assert "card_last4" not in stripped["payment_details"]
    assert stripped["user_id"] == "user_987654321"
    assert stripped["payment_details"] == {
        "payment_method": "credit_card",
        "transaction_status": "pending",
        "gateway": "Stripe",
    }
    expected = copy.deepcopy(before)
    del expected["client_ip"]
    del expected["payment_details"]["card_last4"]
    assert stripped == expected
    assert "1234" not in json.dumps(stripped) and "192.168.1.1" not in json.dumps(stripped)


def test_strip_pii_tolerates_records_without_pii() -> None:
    record = changed("payment_details.payment_method", "paypal")
    del record["payment_details"]["card_last4"]
    del record["client_ip"]
    assert strip_pii(record) == record


def test_analytics_record_is_pii_free_and_keeps_user_id() -> None:
    tx = validate_transaction(SAMPLE_TRANSACTION_TEXT)
    record = to_analytics_record(tx, dt.datetime(2025, 2, 9, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    assert record["user_id"] == "user_987654321"
    assert "client_ip" not in record and "card_last4" not in record["payment_details"]
    assert record["ingested_at"] == "2025-02-09T12:00:00.000000Z"
