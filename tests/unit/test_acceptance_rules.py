"""The acceptance rules (contracts/acceptance.py): each rule refused by its code, and property tests.

For any JSON value, any text and any bytes, ``validate_transaction`` returns a Transaction or raises
InvalidTransaction whose field errors each carry a known rule code, never anything else, and never the
value it was sent; the bulk shortcut never accepts what the contract refuses.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import unicodedata
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import RULE_BY_CODE, RULES, InvalidTransaction, Transaction, Window, validate_transaction
from contracts.acceptance import BIDI_CHARS, DOC_PATH, INVISIBLE_CHARS, render_markdown
from lambdas.common import fast_contract
from lambdas.common.fast_contract import Horizon, from_transaction
from tests.unit.test_contract_errors import SAMPLE_TRANSACTION_TEXT, changed, sample

pytestmark = pytest.mark.unit

WINDOW = Window.at(dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC))
BOUNDED = settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
#: A value that must never come back in an error: it looks like a card number and an IP.
CANARY = "4111111111111111-203.0.113.77"


def refused(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidTransaction) as caught:
        validate_transaction(raw, window=WINDOW)
    return [(e.field, e.rule) for e in caught.value.errors]


def text_with(path: str, json_text: str) -> str:
    """The seed as text with the value at ``path`` replaced by raw JSON text."""
    record = changed(path, "\u0000MARK")
    return json.dumps(record).replace(json.dumps("\u0000MARK"), json_text)


SAMPLE = SAMPLE_TRANSACTION_TEXT.encode()
AMOUNT = "item_purchased.price.amount"
# One hostile input per rule (at least): (input, the field errors expected). The docs list the same codes.
EXAMPLES: dict[str, list[tuple[Any, list[tuple[str, str]]]]] = {
    "body.too_large": [(SAMPLE[:-2] + b" " * 8200 + b"}", [("$", "body.too_large")])],
    "body.not_utf8": [
        (SAMPLE.replace(b"Abyssal", b"Aby\xffssal"), [("$", "body.not_utf8")]),
        (SAMPLE.decode().encode("utf-16"), [("$", "body.not_utf8")]),
        (SAMPLE.replace(b"Abyssal", b"Aby\xed\xa0\x80ssal"), [("$", "body.not_utf8")]),
    ],  # CESU surrogate
    "body.bom": [
        (b"\xef\xbb\xbf" + SAMPLE, [("$", "body.bom")]),
        ("\ufeff" + SAMPLE_TRANSACTION_TEXT, [("$", "body.bom")]),
    ],
    "json.malformed": [
        (b"", [("$", "json.malformed")]),
        (SAMPLE[:-3], [("$", "json.malformed")]),
        (SAMPLE_TRANSACTION_TEXT.replace("Abyssal", "Aby\tssal"), [("$", "json.malformed")]),
        (SAMPLE_TRANSACTION_TEXT + "{}", [("$", "json.malformed")]),
        ("{'a': 1}", [("$", "json.malformed")]),
    ],
    "json.too_deep": [
        ("[" * 2000 + "]" * 2000, [("$", "json.too_deep")]),
        (text_with("game", '{"a":' * 20 + "1" + "}" * 20), [("$", "json.too_deep")]),
    ],
    "json.not_object": [
        ("[]", [("$", "json.not_object")]),
        ("null", [("$", "json.not_object")]),
        ('"text"', [("$", "json.not_object")]),
        ("1e5", [("$", "json.not_object")]),
        ([], [("$", "json.not_object")]),
    ],
    "json.duplicate_key": [
        (
            SAMPLE_TRANSACTION_TEXT.replace('"transactionId": "1",', '"transactionId": "1", "transactionId": "2",'),
            [("transactionId", "json.duplicate_key")],
        ),
        (
            SAMPLE_TRANSACTION_TEXT.replace('"currency": "USD",', '"currency": "USD", "currency": "USD",'),
            [("item_purchased.price.currency", "json.duplicate_key")],
        ),
        (text_with("coupon", '{"4111111111111111": 1, "4111111111111111": 2}'), [("coupon.*", "json.duplicate_key")]),
    ],
    "field.required": [(changed("client_ip", ...), [("client_ip", "field.required")])],
    "field.unknown": [
        (changed("coupon_code", "X"), [("coupon_code", "field.unknown")]),
        (changed("4111111111111111", 1), [("*", "field.unknown")]),
        (changed("payment_details.4111 1111", 1), [("payment_details.*", "field.unknown")]),
    ],
    "field.type": [
        (changed("user_id", None), [("user_id", "field.type")]),
        (changed("payment_details", "credit_card"), [("payment_details", "field.type")]),
        (changed("transactionId", 1), [("transactionId", "field.type")]),
    ],
    "number.not_json": [
        (text_with(AMOUNT, "NaN"), [(AMOUNT, "number.not_json")]),
        (text_with(AMOUNT, "-Infinity"), [(AMOUNT, "number.not_json")]),
    ],
    "number.too_long": [
        (text_with(AMOUNT, "1" * 5000), [(AMOUNT, "number.too_long")]),
        (text_with(AMOUNT, "1e999999999999999999999"), [(AMOUNT, "number.too_long")]),
    ],
    "enum.value": [
        (changed("server_region", "eu-west"), [("server_region", "enum.value")]),
        (changed("payment_details.gateway", 1), [("payment_details.gateway", "enum.value")]),
    ],
    "id.length": [
        (changed("user_id", ""), [("user_id", "id.length")]),
        (changed("user_id", "u" * 65), [("user_id", "id.length")]),
    ],
    "id.characters": [
        (changed("item_purchased.item_id", "mtx wings"), [("item_purchased.item_id", "id.characters")]),
        (changed("transactionId", "tx\n"), [("transactionId", "id.characters")]),
        (changed("transactionId", "tx-\u0661"), [("transactionId", "id.characters")]),
    ],
    "text.length": [
        (changed("game", "  "), [("game", "text.length")]),
        (changed("game", "g" * 121), [("game", "text.length")]),
    ],
    "text.control": [
        (changed("game", "Path\nOf Exile"), [("game", "text.control")]),
        (changed("item_purchased.item_name", "Wings\u0085"), [("item_purchased.item_name", "text.control")]),
        (changed("game", "a\u2028b"), [("game", "text.control")]),
    ],
    "text.bidi": [
        (changed("game", "Path \u202eOf"), [("game", "text.bidi")]),
        (changed("game", "\u2066x\u2069"), [("game", "text.bidi")]),
    ],
    "text.invisible": [
        (changed("game", "Pa\u200bth"), [("game", "text.invisible")]),
        (changed("game", "Path\U000e0041"), [("game", "text.invisible")]),
        (changed("game", "Pa\u00adth"), [("game", "text.invisible")]),
    ],
    "text.unicode": [
        (text_with("game", '"Path \\ud800"'), [("game", "text.unicode")]),
        (changed("game", "Path\ufffe"), [("game", "text.unicode")]),
        (text_with("item_purchased.item_name", '"\\udfff"'), [("item_purchased.item_name", "text.unicode")]),
    ],
    "currency.code": [
        (changed("item_purchased.price.currency", "usd"), [("item_purchased.price.currency", "currency.code")])
    ],
    "amount.number": [
        (changed(AMOUNT, "10"), [(AMOUNT, "amount.number")]),
        (changed(AMOUNT, False), [(AMOUNT, "amount.number")]),
    ],
    "amount.finite": [(changed(AMOUNT, float("nan")), [(AMOUNT, "amount.finite")])],
    "amount.positive": [
        (text_with(AMOUNT, "-0"), [(AMOUNT, "amount.positive")]),
        (text_with(AMOUNT, "-0.0e3"), [(AMOUNT, "amount.positive")]),
    ],
    "amount.maximum": [(text_with(AMOUNT, "1E+400"), [(AMOUNT, "amount.maximum")])],
    "amount.minor_units": [
        (text_with(AMOUNT, "19.9900000000000001"), [(AMOUNT, "amount.minor_units")]),
        (text_with(AMOUNT, "1e-9"), [(AMOUNT, "amount.minor_units")]),
    ],
    "card.last4_format": [
        (
            changed("payment_details.card_last4", "\uff11\uff12\uff13\uff14"),
            [("payment_details.card_last4", "card.last4_format")],
        )
    ],
    "card.last4_required": [
        (changed("payment_details.card_last4", None), [("payment_details.card_last4", "card.last4_required")])
    ],
    "card.last4_absent": [
        (changed("payment_details.payment_method", "paypal"), [("payment_details.card_last4", "card.last4_absent")])
    ],
    "timestamp.format": [
        (changed("event_timestamp", "2025-02-09 12:34:56Z"), [("event_timestamp", "timestamp.format")]),
        (changed("event_timestamp", "2025-02-09T12:34:56.1234567Z"), [("event_timestamp", "timestamp.format")]),
        (changed("event_timestamp", "2025-02-30T12:34:56Z"), [("event_timestamp", "timestamp.format")]),
        (changed("event_timestamp", 1739104496), [("event_timestamp", "timestamp.format")]),
    ],
    "timestamp.too_early": [
        (changed("event_timestamp", "0001-01-01T00:00:00+01:00"), [("event_timestamp", "timestamp.too_early")])
    ],
    "timestamp.in_future": [
        (changed("event_timestamp", "2999-01-01T00:00:00Z"), [("event_timestamp", "timestamp.in_future")]),
        (changed("event_timestamp", "9999-12-31T23:59:59-01:00"), [("event_timestamp", "timestamp.in_future")]),
        (changed("event_timestamp", "2026-12-05T12:00:01Z"), [("event_timestamp", "timestamp.in_future")]),
    ],
    "ip.format": [
        (changed("client_ip", "010.1.1.1"), [("client_ip", "ip.format")]),
        (changed("client_ip", "\u0661\u0669\u0662.168.1.1"), [("client_ip", "ip.format")]),
        (changed("client_ip", "1" * 100_000), [("client_ip", "ip.format")]),
    ],
    "ip.zone_id": [(changed("client_ip", "fe80::1%" + CANARY), [("client_ip", "ip.zone_id")])],
}


def test_every_rule_has_a_hostile_example_and_the_docs_list_them() -> None:
    assert set(EXAMPLES) == set(RULE_BY_CODE)
    assert DOC_PATH.read_text() == render_markdown(), "run `make schema` and commit docs/acceptance-rules.md"
    for rule in RULES:
        assert f"`{rule.code}`" in render_markdown()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(raw, expected, id=f"{code}-{i}")
        for code, cases in EXAMPLES.items()
        for i, (raw, expected) in enumerate(cases)
    ],
)
def test_each_hostile_example_is_refused_by_its_rule(raw: Any, expected: list[tuple[str, str]]) -> None:
    assert refused(raw) == expected


def test_what_the_rules_allow_is_accepted() -> None:
    ok = [
        text_with(AMOUNT, "1E+1"),  # exponent notation, read exactly
        text_with(AMOUNT, "10.000"),  # trailing zeros: the value counts
        changed("game", "  Path Of Exile 2 "),  # surrounding spaces trimmed
        changed("game", "Family \U0001f468\u200d\U0001f469\u200d\U0001f467 Pack"),  # ZWJ in an emoji sequence
        changed("item_purchased.item_name", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),  # ZWNJ in Persian
        changed("game", "\ue000 private use"),
        changed("payment_details.payment_method", "paypal") | {},
        changed("event_timestamp", "2026-12-05T12:00:00Z"),  # exactly the skew after receipt
        changed("event_timestamp", "2000-01-01T00:00:00Z"),
        changed("event_timestamp", "2026-12-05T13:59:59+02:00"),
        changed("client_ip", "::ffff:1.2.3.4"),
    ]
    ok[6]["payment_details"].pop("card_last4")
    for raw in ok:
        assert isinstance(validate_transaction(raw, window=WINDOW), Transaction)
    tx = validate_transaction(ok[2], window=WINDOW)
    assert tx.game == "Path Of Exile 2"


def test_the_window_follows_the_receipt_and_the_setting() -> None:
    late = changed("event_timestamp", "2026-12-06T12:00:00Z")  # 48 h after WINDOW's receipt
    assert refused(late) == [("event_timestamp", "timestamp.in_future")]
    wide = Window.at(WINDOW.received_at, dt.timedelta(hours=48))
    assert validate_transaction(late, window=wide)
    with pytest.raises(InvalidTransaction) as caught:
        validate_transaction(late, window=Window.at(WINDOW.received_at, dt.timedelta(hours=1)))
    assert "more than 1 hours after" in str(caught.value)


def test_the_invisible_characters_are_unicode_format_characters_less_bidi_and_joiners() -> None:
    cf = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    invisible = {c for c in cf if re.fullmatch(f"[{INVISIBLE_CHARS}]", c)}
    bidi_set = {c for c in cf if re.fullmatch(f"[{BIDI_CHARS}]", c)}
    assert invisible | bidi_set | {"\u200c", "\u200d"} == cf
    assert not invisible & bidi_set


# --- properties ---------------------------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.just(CANARY),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10) | st.just(CANARY), inner, max_size=4)
    ),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    """The sample with one to three fields replaced by any JSON value (or removed), and maybe an extra field."""
    paths = ["transactionId", "user_id", "game", "item_purchased", "item_purchased.item_id", "item_purchased.item_name",
             "item_purchased.item_type", "item_purchased.price", "item_purchased.price.currency",
             AMOUNT, "payment_details", "payment_details.payment_method",
             "payment_details.card_last4", "payment_details.transaction_status", "payment_details.gateway",
             "event_timestamp", "server_region", "client_ip", CANARY]  # fmt: skip

    def apply(edits: list[tuple[str, Any]]) -> dict[str, Any]:
        record = sample()
        for path, value in edits:
            *parents, last = path.split(".") if path != CANARY else [CANARY]
            node: Any = record
            for key in parents:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                if value is ...:
                    node.pop(last, None)
                else:
                    node[last] = value
        return record

    return st.lists(st.tuples(st.sampled_from(paths), _json | st.just(...)), min_size=1, max_size=3).map(apply)


def _assert_contract_answer(raw: Any) -> None:
    """A Transaction, or InvalidTransaction with field errors of known rules that never echo the canary."""
    try:
        result = validate_transaction(raw, window=WINDOW)
    except InvalidTransaction as exc:
        assert exc.errors
        for e in exc.errors:
            assert e.rule in RULE_BY_CODE, e
            assert e.field and isinstance(e.reason, str)
        # the id is echoed only when it is a valid identifier (the producer's own key); the rest never
        shown = json.dumps(exc.fields(), ensure_ascii=False) + str(exc)
        assert "4111111111111111" not in shown and "203.0.113.77" not in shown
        assert len(str(exc)) < 200 * len(exc.errors) + 100
        return
    assert isinstance(result, Transaction)


@BOUNDED
@given(value=_json)
def test_any_json_value_gets_a_transaction_or_field_errors(value: Any) -> None:
    _assert_contract_answer(value)
    _assert_contract_answer(json.dumps(value, allow_nan=True))


@BOUNDED
@given(record=_mutations())
def test_any_mutated_record_gets_a_transaction_or_field_errors(record: dict[str, Any]) -> None:
    _assert_contract_answer(record)
    _assert_contract_answer(json.dumps(record, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@BOUNDED
@given(data=st.binary(max_size=300) | st.builds(lambda b, i: SAMPLE[:i] + b + SAMPLE[i:], st.binary(max_size=8),
                                                  st.integers(0, len(SAMPLE))))  # fmt: skip
def test_any_bytes_get_a_transaction_or_field_errors(data: bytes) -> None:
    _assert_contract_answer(data)


@BOUNDED
@given(record=_mutations(), indent=st.sampled_from([None, 0, 1]), dup=st.booleans())
def test_the_shortcut_never_accepts_what_the_contract_refuses(
    record: dict[str, Any], indent: int | None, dup: bool
) -> None:
    text = json.dumps(record, indent=indent, allow_nan=True)
    if dup:  # a key twice, somewhere
        text = text.replace('"gateway":', '"gateway": "Stripe", "gateway":', 1)
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return
    fast = fast_contract._accept(data, text, Horizon.of(WINDOW))
    if fast is not None:
        assert fast == from_transaction(validate_transaction(text, window=WINDOW)), text
