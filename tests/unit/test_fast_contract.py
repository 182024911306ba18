"""The bulk shortcut (lambdas/common/fast_contract.py) against the contract, record by record.

The shortcut may only ever say "the contract accepts this, with these values": for
every record it accepts, ``validate_transaction`` must accept it too and hold the
same values, wire form and timestamps. Records it declines go to the contract.
"""

from __future__ import annotations

import copy
import json
import random
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import InvalidTransaction, Transaction, Window, validate_transaction
from lambdas.common import fast_contract
from lambdas.common.fast_contract import Accepted, Horizon, from_transaction
from orchestration.sample_data.generate import generate

pytestmark = pytest.mark.unit

#: One window for both sides: received now, the default future skew.
WINDOW = Window.at()
HORIZON = Horizon.of(WINDOW)


def _fast(line: str) -> Accepted | None:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return fast_contract._accept(data, line, HORIZON)  # the rules themselves, whatever the pin says


def _assert_agrees(line: str) -> bool:
    """True if the shortcut accepted the line (and then the contract agrees in every value)."""
    fast = _fast(line)
    if fast is None:
        return False
    try:
        tx = validate_transaction(line, window=WINDOW)
    except InvalidTransaction as exc:  # pragma: no cover - the failure this test exists for
        raise AssertionError(f"shortcut accepted what the contract rejects: {exc}\n{line}") from None
    assert fast == from_transaction(tx), line
    assert fast.wire() == tx.to_json_dict(), line
    assert json.dumps(fast.wire()) == json.dumps(tx.to_json_dict()), line  # same key order, same numbers
    assert fast.event_isoformat == tx.event_timestamp.isoformat(), line
    assert fast.event_date == tx.event_timestamp.date().isoformat(), line
    assert str(fast.amount) == str(tx.item_purchased.price.amount), line
    in_place = fast_contract.wire_in_place(orjson.loads(line), fast)
    assert json.dumps(in_place) == json.dumps(tx.to_json_dict()), line
    return True


def test_the_rules_were_checked_against_this_contract() -> None:
    """Fails when the contract changes: re-check the rules in fast_contract.py, then update the pin."""
    assert fast_contract.contract_fingerprint() == fast_contract.CONTRACT_FINGERPRINT
    assert fast_contract.ENABLED


def test_generated_records_agree_and_most_valid_ones_take_the_shortcut() -> None:
    records = list(generate(4000, seed=7, invalid_share=0.3, duplicate_share=0.02))
    taken = dict.fromkeys({r.kind for r in records}, 0)
    for rec in records:
        if _assert_agrees(rec.line):
            taken[rec.kind] += 1
    valid = sum(1 for r in records if r.kind == "valid")
    assert taken["valid"] >= 0.95 * valid, taken  # the common shape really is common
    for kind in ("malformed_json", "missing_field", "mistyped_field", "negative_amount", "absurd_amount",
                 "unknown_currency"):  # fmt: skip
        assert taken.get(kind, 0) == 0, (kind, taken)


def _valid_records(n: int = 200) -> list[dict[str, Any]]:
    return [json.loads(r.line) for r in generate(n, seed=8, invalid_share=0.0, duplicate_share=0.0)]


def _set(record: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(record)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


_DELETE = object()
# fmt: off
_TRICKY: dict[tuple[str, ...], list[Any]] = {
    ("transactionId",): ["", "a" * 64, "a" * 65, "id with space", "id\n", "ïd", 12, None, "a:b.c-d_e"],
    ("user_id",): ["u", " u", "u\t", True, ["u"], "x" * 65],
    ("game",): [" Mystic Farm", "Mystic Farm ", "Mystic\u00a0", "\u2028Farm", "G" * 120, "G" * 121, "", " ",
                "Ünïcode — Game", "tab\tinside", 'quote " and \\ backslash', "\x1cG", "G\x85", 5,
                "Mystic\u202eFarm", "Mystic\u200bFarm", "Mystic\u200dFarm", "Mystic\u00adFarm", "\ufeffFarm",
                "Farm\U000e0041", "Farm\ufffe", "Farm\udc80", 'Farm": 1, "x', "Back\\slash", "Farm\u007f"],
    ("item_purchased", "item_name"): ["", "  ", "n" * 121, "Name\u3000", "😀 emoji", None],
    ("item_purchased", "item_type"): ["Cosmetic", "cosmetic ", "battle_pass", "", 1],
    ("item_purchased", "price", "currency"): ["usd", "USD ", "XYZ", "JPY", "BHD", "", None],
    ("item_purchased", "price", "amount"): [0, -1, 0.0, -0.0, 1, 1.0, 100.0, 1e2, 1.5e1, 0.001, 0.01, 0.015, 1.234,
                                            1.7900000000000000001, 9999999.99, 10000000, 10000000.0, 10000000.01,
                                            1e7, 1e-3, 123456789012345678901234567890, True, False, "1.79", None,
                                            [1], {"amount": 1}, 2**63, 1.1e-7, 5e-324],
    ("payment_details", "payment_method"): ["credit_card", "debit_card", "paypal", "Paypal", "gift_card", None],
    ("payment_details", "card_last4"): ["1234", "123", "12345", "12a4", "\u0661\u0662\u0663\u0664",
                                        "\uff11\uff12\uff13\uff14", 1234, None, _DELETE, ""],
    ("payment_details", "transaction_status"): ["refunded", "REFUNDED", ""],
    ("payment_details", "gateway"): ["stripe", "Xsolla", ""],
    ("event_timestamp",): ["2026-08-03T00:02:43Z", "2026-08-03T00:02:43.5Z", "2026-08-03T00:02:43.000000Z",
                           "2026-08-03T00:02:43.000001Z", "2026-08-03T00:02:43.1234567Z", "2026-08-03t00:02:43z",
                           "2026-08-03 00:02:43Z", "2026-08-03T00:02:43+02:00", "2026-08-03T00:02:43-00:00",
                           "2026-08-03T00:02:43", "2026-02-29T00:00:00Z", "2024-02-29T23:59:59Z",
                           "2026-08-03T24:00:00Z", "2026-08-03T23:59:60Z", "1999-12-31T23:59:59Z",
                           "1999-12-31T23:59:59.999999Z", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00.000001Z",
                           "9999-12-31T23:59:59Z", "2026-8-3T00:02:43Z", "\uff12\uff10\uff12\uff16-08-03T00:02:43Z",
                           "2026-08-03T00:02:43.Z", "1785715363", 1785715363, "2026-08-03T00:02Z", None],
    ("server_region",): ["EU-West", "eu-west", "Oceania", ""],
    ("client_ip",): ["\u0669\u0662.245.160.189", "1" * 50, "92.245.160.189", "092.245.160.189",
                     "256.1.1.1", "1.2.3", "::1", "2001:DB8::1",
                     "2001:0db8:0000:0000:0000:0000:0000:0001", "::ffff:1.2.3.4", "fe80::1%eth0", " 1.2.3.4",
                     "1.2.3.4 ", "0.0.0.0", "", 3232235777],
}
# fmt: on


def test_tricky_values_agree_with_the_contract() -> None:
    rng = random.Random(9)
    bases = _valid_records(60)
    accepted = declined = 0
    for path, values in _TRICKY.items():
        for value in values:
            for base in rng.sample(bases, 4):
                record = _set(base, path, value)
                if path == ("payment_details", "card_last4") and value is not _DELETE:
                    record = _set(record, ("payment_details", "payment_method"), rng.choice(["credit_card", "paypal"]))
                line = json.dumps(record, ensure_ascii=rng.random() < 0.5)
                if _assert_agrees(line):
                    accepted += 1
                else:
                    declined += 1
    assert accepted > 100 and declined > 100  # both sides of the shortcut were exercised


def test_shapes_around_the_keys_agree_with_the_contract() -> None:
    base = _valid_records(1)[0]
    variants = [
        {**base, "extra": 1},
        {k: v for k, v in base.items() if k != "client_ip"},
        {("transaction_id" if k == "transactionId" else k): v for k, v in base.items()},  # by name: contract decides
        dict(reversed(list(base.items()))),  # key order does not matter
        _set(base, ("item_purchased", "price", "extra"), 1),
        _set(base, ("payment_details", "card_last4"), None),
        [base],
        "text",
    ]
    results = [_assert_agrees(json.dumps(v)) for v in variants]
    assert results[3] is True and results[0] is False and results[2] is False
    # a duplicated key (I-JSON): the shortcut declines, the contract refuses it by name
    for dup, field in [
        (json.dumps(base)[:-1] + ', "game": "Another Game"}', "game"),
        (json.dumps(base)[:-1] + ', "game": "' + base["game"] + '"}', "game"),  # the same value twice too
        (json.dumps(base).replace('"amount": ', '"amount": 1, "amount": ', 1), "item_purchased.price.amount"),
        (
            json.dumps(base).replace('"payment_details": {', '"payment_details": {"gateway": "Stripe", ', 1),
            "payment_details.gateway",
        ),
        (json.dumps(base, indent=1).replace('"user_id"', '"user_id" : "u", "user_id"', 1), "user_id"),
    ]:
        assert _fast(dup) is None, dup
        with pytest.raises(InvalidTransaction) as caught:
            validate_transaction(dup)
        assert [(e.field, e.rule) for e in caught.value.errors] == [(field, "json.duplicate_key")]


_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=70),
    st.sampled_from(["EUR", "JPY", "paypal", "credit_card", "1234", "EU-West", "cosmetic", "Stripe",
                     "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.25Z", "10.0.0.1", "::1"]),
)  # fmt: skip


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(sorted(_TRICKY)), value=_json_scalars, which=st.integers(0, 49))
def test_any_value_anywhere_agrees_with_the_contract(path: tuple[str, ...], value: Any, which: int) -> None:
    _assert_agrees(json.dumps(_set(_BASES[which], path, value)))


_BASES = _valid_records(50)


def test_an_accepted_record_keeps_the_contracts_decimal() -> None:
    record = _set(_valid_records(1)[0], ("item_purchased", "price", "currency"), "USD")
    record = _set(record, ("item_purchased", "price", "amount"), 100.0)
    fast = _fast(json.dumps(record))
    assert fast is not None and fast.amount == Decimal("100.0") and str(fast.amount) == "100.0"
    assert fast.wire()["item_purchased"]["price"]["amount"] == 100 and isinstance(
        fast.wire()["item_purchased"]["price"]["amount"], int
    )
    assert isinstance(validate_transaction(json.dumps(record)), Transaction)


# The amount as written, not as a float: orjson reads 19.9900000000000001 as the float 19.99, the contract
# reads the decimal exactly (too many decimals for USD). The shortcut must read the text too.
_AMOUNT_TEXTS = [
    "19.9900000000000001", "10.000000000000000001", "1e1", "1E+1", "1.5e1", "10.000", "10.0", "-0", "-0.0", "0",
    "1" + "0" * 45, "10" + ".0" + "0" * 40, "1e-400", "1e400", "1E99999999999999999999", "9999999.99", "10000000.001",
    "123456789012345678901234567890", "0.1", "0.10", "0.105", "1.00000000000000000001e1",
]  # fmt: skip


@pytest.mark.parametrize("text", _AMOUNT_TEXTS)
@pytest.mark.parametrize("currency", ["USD", "JPY", "BHD"])
def test_the_amount_is_read_as_written(text: str, currency: str) -> None:
    base = _set(_valid_records(1)[0], ("item_purchased", "price", "currency"), currency)
    base = _set(base, ("item_purchased", "price", "amount"), 7)
    line = json.dumps(base).replace('"amount": 7', f'"amount": {text}')
    assert f'"amount": {text}' in line
    accepted = _assert_agrees(line)
    try:
        tx = validate_transaction(line, window=WINDOW)
    except InvalidTransaction:
        assert not accepted
        return
    assert tx.item_purchased.price.amount == Decimal(text)  # exactly what was written


def test_event_times_at_the_edges_of_the_window() -> None:
    import datetime as dt

    base = _valid_records(1)[0]
    latest = WINDOW.latest
    for delta, allowed in [(-dt.timedelta(hours=1), True), (-dt.timedelta(seconds=1), True),
                           (dt.timedelta(seconds=1), False), (dt.timedelta(days=365 * 900), False)]:  # fmt: skip
        stamp = (latest + delta).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = json.dumps(_set(base, ("event_timestamp",), stamp))
        _assert_agrees(line)
        try:
            validate_transaction(line, window=WINDOW)
            assert allowed, stamp
        except InvalidTransaction as exc:
            assert not allowed and [(e.field, e.rule) for e in exc.errors] == [
                ("event_timestamp", "timestamp.in_future")
            ]


def test_a_record_in_other_json_spellings_agrees() -> None:
    """Whitespace, escapes and key order as other serializers write them: never a false accept."""
    rng = random.Random(11)
    for base in _valid_records(40):
        for text in (
            json.dumps(base, indent=rng.choice([None, 0, 2])),
            json.dumps(base, separators=(",", ":"), ensure_ascii=True),
            json.dumps(base).replace(": ", " : "),
            json.dumps(base).replace('"game": "', '"game": "\\u0041'),
            json.dumps(base).replace('"user_id"', '"user\\u005fid"'),
            json.dumps(base).replace('"', ' "'),
        ):
            _assert_agrees(text)
