"""The sample-data generator and the shop catalogue."""

from __future__ import annotations

import argparse
import ipaddress
import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contracts import InvalidTransaction, validate_transaction
from contracts.currencies import MINOR_UNITS
from contracts.transaction import CARD_METHODS, MAX_AMOUNT, ItemType
from orchestration.sample_data.catalogue import (
    BY_ID,
    CATALOGUE,
    CURRENCIES,
    GAMES,
    CatalogueItem,
    dynamodb_items,
    from_dynamodb_item,
    to_dynamodb_item,
)
from orchestration.sample_data.generate import (
    CATALOGUE_KINDS,
    CONTRACT_KINDS,
    DUPLICATE,
    INVALID_KINDS,
    KINDS,
    VALID,
    GeneratedRecord,
    add_arguments,
    generate,
    run,
    write_ndjson,
)

pytestmark = pytest.mark.unit

CARD_METHOD_NAMES = {m.value for m in CARD_METHODS}


@pytest.fixture(scope="module")
def records() -> list[GeneratedRecord]:
    return list(generate(2000, seed=42, invalid_share=0.1))


@pytest.fixture(scope="module")
def large() -> list[GeneratedRecord]:
    return list(generate(20_000, seed=7))


def of_kind(records: list[GeneratedRecord], *kinds: str) -> list[GeneratedRecord]:
    return [r for r in records if r.kind in kinds]


def listed_price(wire: dict[str, Any]) -> Decimal:
    item = BY_ID[wire["item_purchased"]["item_id"]]
    return item.prices[wire["item_purchased"]["price"]["currency"]]


def lookup(record: dict[str, Any], dotted: str) -> Any:
    node: Any = record
    for key in dotted.split("."):
        node = node[key]
    return node


def has_path(record: Any, dotted: str) -> bool:
    node: Any = record
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


# ------------------------------------------------------------------- reproducibility


def test_same_seed_gives_byte_identical_output(tmp_path: Path) -> None:
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    write_ndjson(first, 3000, seed=11, invalid_share=0.1)
    write_ndjson(second, 3000, seed=11, invalid_share=0.1)
    assert first.read_bytes() == second.read_bytes()
    assert [r.line for r in generate(500, seed=11)] == [r.line for r in generate(500, seed=11)]


def test_different_seed_gives_different_output() -> None:
    a = [r.line for r in generate(500, seed=1)]
    b = [r.line for r in generate(500, seed=2)]
    assert a != b
    assert not set(a) & set(b)


@pytest.mark.parametrize("n", [0, 1, 2, 9, 101, 2000])
def test_exact_count(n: int) -> None:
    assert sum(1 for _ in generate(n, seed=3, invalid_share=0.2, duplicate_share=0.05)) == n


def test_shares_are_respected(large: list[GeneratedRecord]) -> None:
    counts = Counter(r.kind for r in large)
    assert sum(counts.values()) == 20_000
    assert sum(counts[k] for k in INVALID_KINDS) == 1000  # 5 % by default
    assert counts[DUPLICATE] == 200  # 1 % by default
    assert counts[VALID] == 20_000 - 1000 - 200
    per_kind = [counts[k] for k in INVALID_KINDS]
    assert max(per_kind) - min(per_kind) <= 1, "the invalid share is split evenly"


def test_every_kind_appears(records: list[GeneratedRecord]) -> None:
    counts = Counter(r.kind for r in records)
    assert set(counts) == set(KINDS)
    assert all(counts[k] >= 22 for k in INVALID_KINDS)
    assert counts[DUPLICATE] == 20


def test_no_bad_records_when_shares_are_zero() -> None:
    assert {r.kind for r in generate(300, invalid_share=0, duplicate_share=0)} == {VALID}


def test_all_invalid_is_possible() -> None:
    kinds = Counter(r.kind for r in generate(90, invalid_share=1.0, duplicate_share=0))
    assert kinds == Counter(dict.fromkeys(INVALID_KINDS, 10))


@pytest.mark.parametrize(
    "options",
    [
        {"invalid_share": -0.1},
        {"invalid_share": 1.5},
        {"invalid_share": 0.7, "duplicate_share": 0.5},
        {"invalid_share": 0.9, "duplicate_share": 0.1},  # duplicates but nothing valid to re-send
        {"start": date(2026, 5, 1), "end": date(2026, 5, 1)},
    ],
)
def test_bad_options_are_refused_at_call_time(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate(100, **options)


# ----------------------------------------------------------------------- valid records


def test_valid_records_and_duplicates_pass_the_contract_at_the_catalogue_price(
    records: list[GeneratedRecord],
) -> None:
    good = of_kind(records, VALID, DUPLICATE)
    assert len(good) == 1800
    for record in good:
        tx = validate_transaction(record.line)
        assert tx.transaction_id == record.transaction_id
        assert record.field is None
        item = BY_ID[tx.item_purchased.item_id]
        assert item.purchasable
        assert item.game == tx.game
        assert item.item_name == tx.item_purchased.item_name
        assert item.item_type == tx.item_purchased.item_type
        assert tx.item_purchased.price.amount == item.prices[tx.item_purchased.price.currency]


def test_valid_lines_are_the_contract_wire_form(records: list[GeneratedRecord]) -> None:
    for record in of_kind(records, VALID)[:300]:
        wire = validate_transaction(record.line).to_json_dict()
        assert json.dumps(wire, separators=(",", ":"), ensure_ascii=False) == record.line


def test_transaction_ids_are_unique_and_duplicates_resend_an_earlier_valid_record(
    records: list[GeneratedRecord],
) -> None:
    ids = [r.transaction_id for r in records if r.kind != DUPLICATE and r.transaction_id is not None]
    assert len(ids) == len(set(ids))
    seen: dict[str, str] = {}
    for record in records:
        if record.kind == VALID:
            assert record.transaction_id is not None
            seen[record.transaction_id] = record.line
        elif record.kind == DUPLICATE:
            assert record.transaction_id in seen, "a duplicate re-sends an earlier valid record"
            assert seen[record.transaction_id] == record.line, "byte for byte"


def test_no_card_last4_on_non_card_payments(records: list[GeneratedRecord]) -> None:
    checked = 0
    for record in records:
        try:
            wire = json.loads(record.line)
        except json.JSONDecodeError:
            continue
        payment = wire.get("payment_details") if isinstance(wire, dict) else None
        if not isinstance(payment, dict) or "payment_method" not in payment:
            continue
        checked += 1
        if payment["payment_method"] in CARD_METHOD_NAMES:
            assert record.kind != VALID or "card_last4" in payment
        else:
            assert "card_last4" not in payment, record.line
    assert checked > 1900


def test_timestamps_are_utc_in_order_and_in_the_default_range(records: list[GeneratedRecord]) -> None:
    stamps = [json.loads(r.line)["event_timestamp"] for r in of_kind(records, VALID)]
    assert all(s.endswith("Z") for s in stamps)
    assert stamps == sorted(stamps), "a stream in time order"
    assert stamps[0] >= "2026-08-03T00:00:00Z" and stamps[-1] < "2026-11-01T00:00:00Z"
    days = {s[:10] for s in stamps}
    assert len(days) > 80, "spread over the 90 days"


def test_a_custom_date_range_is_respected() -> None:
    good = of_kind(list(generate(500, start=date(2025, 1, 1), end=date(2025, 1, 8))), VALID)
    parsed = [datetime.fromisoformat(json.loads(r.line)["event_timestamp"]) for r in good]
    assert len(parsed) == 470
    assert all(datetime(2025, 1, 1, tzinfo=UTC) <= t < datetime(2025, 1, 8, tzinfo=UTC) for t in parsed)


def test_the_world_is_realistic(large: list[GeneratedRecord]) -> None:
    wires = [json.loads(r.line) for r in of_kind(large, VALID)]
    # Skewed purchase frequency: a few whales.
    per_user = sorted(Counter(w["user_id"] for w in wires).values(), reverse=True)
    top = per_user[: max(1, len(per_user) // 100)]
    assert sum(top) / len(wires) > 0.1
    assert per_user[0] > 20 * per_user[len(per_user) // 2]
    assert all(len(w["user_id"]) == 14 and w["user_id"].startswith("user_") for w in wires)
    # Currency follows the region.
    for w in wires:
        currency, region = w["item_purchased"]["price"]["currency"], w["server_region"]
        if currency in {"JPY", "KRW"}:
            assert region == "Asia-Pacific"
        if currency == "BRL":
            assert region == "SA-East"
        if currency == "GBP":
            assert region == "EU-West"
    # Mostly completed; every status, method and game shows up; some IPv6.
    statuses = Counter(w["payment_details"]["transaction_status"] for w in wires)
    assert statuses["completed"] / len(wires) > 0.85
    assert set(statuses) == {"completed", "pending", "failed", "refunded"}
    assert len({w["payment_details"]["payment_method"] for w in wires}) == 8
    assert len({w["payment_details"]["gateway"] for w in wires}) == 6
    assert {w["game"] for w in wires} == set(GAMES)
    assert len({w["item_purchased"]["price"]["currency"] for w in wires}) >= 9
    ips = [ipaddress.ip_address(w["client_ip"]) for w in wires]
    assert all(str(ip) == w["client_ip"] for ip, w in zip(ips, wires, strict=True)), "canonical text"
    v6 = sum(ip.version == 6 for ip in ips) / len(ips)
    assert 0.03 < v6 < 0.4


# ------------------------------------------------------------------------ bad records

EXPECTED_FIELD = {
    "malformed_json": "$",
    "negative_amount": "item_purchased.price.amount",
    "absurd_amount": "item_purchased.price.amount",
    "unknown_currency": "item_purchased.price.currency",
}


@pytest.mark.parametrize("kind", CONTRACT_KINDS)
def test_contract_kinds_fail_the_contract_naming_the_field(records: list[GeneratedRecord], kind: str) -> None:
    bad = of_kind(records, kind)
    assert bad
    fields_seen = set()
    for record in bad:
        with pytest.raises(InvalidTransaction) as caught:
            validate_transaction(record.line)
        exc = caught.value
        assert [e.field for e in exc.errors] == [record.field], record.line
        assert exc.transaction_id == record.transaction_id
        if kind in EXPECTED_FIELD:
            assert record.field == EXPECTED_FIELD[kind]
        fields_seen.add(record.field)
    if kind in {"missing_field", "mistyped_field"}:
        assert len(fields_seen) >= 5, f"{kind} varies the field: {fields_seen}"


def test_missing_and_mistyped_fields_are_what_they_say(records: list[GeneratedRecord]) -> None:
    for record in of_kind(records, "missing_field"):
        assert record.field is not None
        assert not has_path(json.loads(record.line), record.field)
    for record in of_kind(records, "mistyped_field"):
        assert record.field is not None
        assert has_path(json.loads(record.line), record.field)
    reasons = Counter()
    for record in of_kind(records, "missing_field"):
        with pytest.raises(InvalidTransaction) as caught:
            validate_transaction(record.line)
        reasons[caught.value.errors[0].reason] += 1
    assert set(reasons) == {"is required"}


def test_malformed_lines_are_single_lines_of_broken_json(records: list[GeneratedRecord]) -> None:
    for record in of_kind(records, "malformed_json"):
        assert "\n" not in record.line and record.line
        assert record.transaction_id is None
        with pytest.raises(json.JSONDecodeError):
            json.loads(record.line)


def test_amount_kinds(records: list[GeneratedRecord]) -> None:
    for record in of_kind(records, "negative_amount"):
        assert lookup(json.loads(record.line), "item_purchased.price.amount") < 0
    for record in of_kind(records, "absurd_amount"):
        assert lookup(json.loads(record.line), "item_purchased.price.amount") > MAX_AMOUNT
    for record in of_kind(records, "unknown_currency"):
        assert lookup(json.loads(record.line), "item_purchased.price.currency") not in MINOR_UNITS


def test_catalogue_kinds_pass_the_contract_and_fail_the_catalogue(records: list[GeneratedRecord]) -> None:
    for record in of_kind(records, *CATALOGUE_KINDS):
        tx = validate_transaction(record.line)
        assert tx.transaction_id == record.transaction_id
        wire = json.loads(record.line)
        item_id = wire["item_purchased"]["item_id"]
        if record.kind == "unknown_item":
            assert item_id not in BY_ID
            assert record.field == "item_purchased.item_id"
        elif record.kind == "not_for_sale":
            item = BY_ID[item_id]
            assert item.purchasable is False
            assert item.game == wire["game"]
            assert tx.item_purchased.price.amount == listed_price(wire), "only the flag is wrong"
            assert record.field == "item_purchased.item_id"
        else:
            item = BY_ID[item_id]
            assert item.purchasable and item.game == wire["game"]
            assert tx.item_purchased.price.amount != listed_price(wire)
            assert record.field == "item_purchased.price.amount"


# -------------------------------------------------------------------------- file, CLI


def test_write_ndjson_streams_every_record_and_counts_kinds(tmp_path: Path) -> None:
    path = tmp_path / "out.ndjson"
    counts = write_ndjson(path, 5000, seed=5, invalid_share=0.09, duplicate_share=0.02)
    data = path.read_bytes()
    assert data.endswith(b"\n")
    lines = data.decode("utf-8").split("\n")[:-1]
    assert len(lines) == 5000 == sum(counts.values())
    assert counts == Counter(r.kind for r in generate(5000, seed=5, invalid_share=0.09, duplicate_share=0.02))
    assert lines == [r.line for r in generate(5000, seed=5, invalid_share=0.09, duplicate_share=0.02)]


def test_cli_writes_a_file_and_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "cli.ndjson"
    args = parser.parse_args(
        [
            "--count",
            "300",
            "--seed",
            "9",
            "--invalid-share",
            "0.3",
            "--duplicate-share",
            "0.1",
            "--out",
            str(out),
        ]
    )
    assert run(args) == 0
    assert len(out.read_text().splitlines()) == 300
    err = capsys.readouterr().err
    for kind in KINDS:
        assert kind in err
    assert "valid" in err and "180" in err


def test_cli_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--count", "20", "--out", "-"])) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [r.line for r in generate(20, seed=42)]
    assert "generated 20 records" in captured.err


def test_cli_refuses_a_bad_share() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--invalid-share", "2"])


# -------------------------------------------------------------------------- catalogue


def test_catalogue_shape() -> None:
    assert len(GAMES) == 6
    assert len(CATALOGUE) == 60
    assert len(BY_ID) == len(CATALOGUE), "item ids are unique"
    assert {item.item_type for item in CATALOGUE} == set(ItemType)
    for game in GAMES:
        items = [item for item in CATALOGUE if item.game == game]
        assert len(items) == 10
        assert any(item.purchasable for item in items)
    not_for_sale = [item for item in CATALOGUE if not item.purchasable]
    assert 3 <= len(not_for_sale) <= 10


def test_catalogue_prices_respect_minor_units() -> None:
    assert {"USD", "EUR", "GBP", "JPY", "BRL", "KRW", "CAD", "AUD", "PLN"} <= set(CURRENCIES)
    for item in CATALOGUE:
        assert set(item.prices) == set(CURRENCIES)
        for currency, amount in item.prices.items():
            places = MINOR_UNITS[currency]
            assert amount > 0
            assert amount.as_tuple().exponent == -places, f"{item.item_id} {currency} {amount}"
        assert item.prices["JPY"] == item.prices["JPY"].to_integral_value()
        assert item.prices["KRW"] == item.prices["KRW"].to_integral_value()


def test_the_seed_item_is_in_the_catalogue_at_the_seed_price() -> None:
    item = BY_ID["mtx_abyssal_wings"]
    assert (item.game, item.item_name, item.item_type, item.purchasable) == (
        "Path Of Exile 2",
        "Abyssal Wings",
        ItemType.COSMETIC,
        True,
    )
    assert item.prices["USD"] == Decimal(10)


def test_dynamodb_item_shape() -> None:
    av = to_dynamodb_item(BY_ID["mtx_abyssal_wings"])
    assert av["item_id"] == {"S": "mtx_abyssal_wings"}
    assert av["game"] == {"S": "Path Of Exile 2"}
    assert av["item_name"] == {"S": "Abyssal Wings"}
    assert av["item_type"] == {"S": "cosmetic"}
    assert av["purchasable"] == {"BOOL": True}
    assert av["prices"]["M"]["USD"] == {"N": "10.00"}
    assert av["prices"]["M"]["JPY"] == {"N": "1600"}
    json.dumps(av)  # plain JSON types only (strings, bools, dicts)
    assert len(dynamodb_items()) == len(CATALOGUE)


def test_dynamodb_round_trip_is_lossless() -> None:
    for item in CATALOGUE:
        back = from_dynamodb_item(to_dynamodb_item(item))
        assert back == item
        assert type(back.item_type) is ItemType
        assert {c: str(a) for c, a in back.prices.items()} == {c: str(a) for c, a in item.prices.items()}


def test_from_dynamodb_restores_minor_units_of_normalised_numbers() -> None:
    # DynamoDB returns numbers normalised ("19.00" -> "19"): the catalogue price comes back exactly.
    item = BY_ID["mtx_koe_gems_pouch"]
    av = to_dynamodb_item(item)
    av["prices"]["M"] = {c: {"N": str(Decimal(v["N"]).normalize())} for c, v in av["prices"]["M"].items()}
    assert av["prices"]["M"]["MXN"] == {"N": "19"}
    back = from_dynamodb_item(av)
    assert str(back.prices["MXN"]) == "19.00"
    assert back == item


def test_from_dynamodb_refuses_a_price_finer_than_the_currency_allows() -> None:
    av = to_dynamodb_item(BY_ID["mtx_koe_gems_pouch"])
    av["prices"]["M"]["JPY"] = {"N": "160.5"}
    with pytest.raises(ValueError, match="JPY"):
        from_dynamodb_item(av)


def test_catalogue_item_is_frozen_and_hashable() -> None:
    item = CATALOGUE[0]
    with pytest.raises(AttributeError):
        item.purchasable = False  # type: ignore[misc]
    assert len({item, CatalogueItem(**{**item.__dict__})}) == 1
