"""Labelled bad records: a valid base record turned into one of the invalid kinds.

Contract kinds fail ``contracts.validate_transaction`` on the field in :attr:`GeneratedRecord.field`;
catalogue kinds pass the contract but fail the shop check.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

from contracts.transaction import ItemType
from orchestration.sample_data.catalogue import BY_ID
from orchestration.sample_data.records import GeneratedRecord
from orchestration.sample_data.world import World, json_number, minor_unit

_DELETE = object()
#: What a mutation returns: the line, the readable transactionId, the wire path of the defect.
_Out = tuple[str, str | None, str]


def _replace(record: dict[str, Any], path: Sequence[str], value: Any) -> dict[str, Any]:
    """Copy-on-write: a copy of the record with ``path`` set to value (or deleted)."""
    out = dict(record)
    head = path[0]
    if len(path) > 1:
        out[head] = _replace(record[head], path[1:], value)
    elif value is _DELETE:
        del out[head]
    else:
        out[head] = value
    return out


_REQUIRED_PATHS: tuple[tuple[str, ...], ...] = (
    ("transactionId",),
    ("user_id",),
    ("game",),
    ("item_purchased",),
    ("item_purchased", "item_id"),
    ("item_purchased", "item_name"),
    ("item_purchased", "item_type"),
    ("item_purchased", "price"),
    ("item_purchased", "price", "currency"),
    ("item_purchased", "price", "amount"),
    ("payment_details",),
    ("payment_details", "payment_method"),
    ("payment_details", "transaction_status"),
    ("payment_details", "gateway"),
    ("event_timestamp",),
    ("server_region",),
    ("client_ip",),
)

_AMOUNT = ("item_purchased", "price", "amount")
_CURRENCY = ("item_purchased", "price", "currency")
_UNKNOWN_CURRENCIES = ("XYZ", "BTC", "RMB", "EURO", "US$", "")
_ABSURD_AMOUNTS: tuple[int | float, ...] = (1e12, 10**12, 250_000_000, 99_999_999.99, 1e15)
_NEW_ITEMS = (
    ("phantom_cloak", "Phantom Cloak", ItemType.COSMETIC),
    ("gilded_lantern", "Gilded Lantern", ItemType.COSMETIC),
    ("storm_crate", "Storm Crate", ItemType.LOOT_BOX),
    ("double_xp_weekend", "Double XP Weekend", ItemType.BOOST),
    ("season_8_pass", "Season 8 Pass", ItemType.BATTLE_PASS),
    ("ruby_pile", "Pile of Rubies", ItemType.CURRENCY),
    ("hero_marrow", "Hero: Marrow", ItemType.CHARACTER),
    ("moonwalk", "Moonwalk", ItemType.EMOTE),
    ("collectors_bundle", "Collector's Bundle", ItemType.BUNDLE),
)


def _dumps(record: dict[str, Any]) -> str:
    return orjson.dumps(record).decode()


class Mutator:
    """Turns a valid base record into a labelled bad one."""

    def __init__(self, rng: random.Random, world: World) -> None:
        self.rng = rng
        self.world = world
        self.by_kind: dict[str, Callable[[dict[str, Any], int, str], _Out]] = {
            "malformed_json": self.malformed_json,
            "missing_field": self.missing_field,
            "mistyped_field": self.mistyped_field,
            "negative_amount": self.negative_amount,
            "absurd_amount": self.absurd_amount,
            "unknown_currency": self.unknown_currency,
            "unknown_item": self.unknown_item,
            "not_for_sale": self.not_for_sale,
            "price_mismatch": self.price_mismatch,
        }

    def make(self, kind: str, record: dict[str, Any], item: int, currency: str) -> GeneratedRecord:
        line, tx_id, field = self.by_kind[kind](record, item, currency)
        return GeneratedRecord(line, tx_id, kind, field)

    # Contract kinds ----------------------------------------------------------
    def malformed_json(self, record: dict[str, Any], item: int, currency: str) -> _Out:
        line = _dumps(record)
        variant = self.rng.random()
        if variant < 0.55:  # the connection dropped mid-line
            line = line[: self.rng.randrange(1, len(line) - 1)]
        elif variant < 0.7:  # a hand-edited trailing comma
            line = line[:-1] + ",}"
        elif variant < 0.85:  # a Python dict printed instead of JSON
            line = line.replace('"', "'")
        else:  # an unquoted key
            line = line.replace('"user_id"', "user_id", 1)
        return line, None, "$"

    def missing_field(self, record: dict[str, Any], item: int, currency: str) -> _Out:
        path = self.rng.choice(_REQUIRED_PATHS)
        tx_id = None if path == ("transactionId",) else record["transactionId"]
        return _dumps(_replace(record, path, _DELETE)), tx_id, ".".join(path)

    def mistyped_field(self, record: dict[str, Any], item: int, currency: str) -> _Out:
        rng = self.rng
        payment = record["payment_details"]
        variants: list[tuple[tuple[str, ...], Any]] = [
            (_AMOUNT, rng.choice(("ten", "9,99", "free", "USD 10"))),
            (("user_id",), int(record["user_id"].removeprefix("user_"))),
            (("transactionId",), rng.getrandbits(31)),
            (("item_purchased",), [record["item_purchased"]]),
            (("event_timestamp",), rng.choice(("yesterday", "09/02/2026 12:34", "2026-13-45T25:61:00Z"))),
            (("payment_details",), payment["payment_method"]),
            (("server_region",), [record["server_region"]]),
            (("item_purchased", "item_type"), rng.randrange(1, 9)),
            (("client_ip",), rng.getrandbits(32)),
            (("game",), None),
        ]
        if "card_last4" in payment:
            variants.append((("payment_details", "card_last4"), int(payment["card_last4"])))
        path, value = rng.choice(variants)
        tx_id = None if path == ("transactionId",) else record["transactionId"]
        return _dumps(_replace(record, path, value)), tx_id, ".".join(path)

    def negative_amount(self, record: dict[str, Any], item: int, currency: str) -> _Out:
        amount = record["item_purchased"]["price"]["amount"]
        value = -amount if self.rng.random() < 0.8 else -json_number(minor_unit(currency))
        return _dumps(_replace(record, _AMOUNT, value)), record["transactionId"], ".".join(_AMOUNT)

    def absurd_amount(self, record: dict[str, Any], item: int, currency: str) -> _Out:
        value = self.rng.choice(_ABSURD_AMOUNTS)
        return _dumps(_replace(record, _AMOUNT, value)), record["transactionId"], ".".join(_AMOUNT)

    def unknown_currency(self, record: dict[str, Any], item: int, currency: str) -> _Out:
        value = self.rng.choice((*_UNKNOWN_CURRENCIES, currency.lower()))
        return _dumps(_replace(record, _CURRENCY, value)), record["transactionId"], ".".join(_CURRENCY)

    # Catalogue kinds (contract-valid) ----------------------------------------
    def unknown_item(self, record: dict[str, Any], item: int, currency: str) -> _Out:
        rng = self.rng
        known = self.world.items[item]
        variant = rng.random()
        if variant < 0.6:  # an item from a newer client build, not in the shop yet
            slug, name, item_type = rng.choice(_NEW_ITEMS)
            item_id = f"mtx_{slug}_{rng.getrandbits(24):06x}"
            tier = self.world.items[rng.choice(self.world.purchasable)]
            amount = tier.prices[currency]
        elif variant < 0.8:  # a client that upper-cases ids
            item_id, name, item_type, amount = (
                known.item_id.upper(),
                known.item_name,
                known.item_type,
                known.prices[currency],
            )
        else:  # a re-issued item the shop does not list
            item_id, name, item_type, amount = (
                known.item_id + "_v2",
                known.item_name,
                known.item_type,
                known.prices[currency],
            )
        assert item_id not in BY_ID
        wire = {
            "item_id": item_id,
            "item_name": name,
            "item_type": item_type.value,
            "price": {"currency": currency, "amount": json_number(amount)},
        }
        return (
            _dumps(_replace(record, ("item_purchased",), wire)),
            record["transactionId"],
            "item_purchased.item_id",
        )

    def not_for_sale(self, record: dict[str, Any], item: int, currency: str) -> _Out:
        retired = self.rng.choice(self.world.not_for_sale)
        out = dict(record)
        out["game"] = self.world.items[retired].game
        out["item_purchased"] = self.world.item_wire[retired][currency]
        return _dumps(out), record["transactionId"], "item_purchased.item_id"

    def price_mismatch(self, record: dict[str, Any], item: int, currency: str) -> _Out:
        listed = self.world.items[item].prices[currency]
        quantum = minor_unit(currency)
        variant = self.rng.random()
        if variant < 0.35:  # an expired 20 % promotion
            paid = (listed * Decimal("0.8")).quantize(quantum)
        elif variant < 0.6:  # the USD figure sent with the local currency
            paid = self.world.items[item].prices["USD"]
        elif variant < 0.8:  # last season's price
            paid = (listed * Decimal("1.25")).quantize(quantum)
        else:  # off by one minor unit
            paid = listed + quantum if self.rng.random() < 0.5 else listed - quantum
        if paid == listed or paid <= 0 or paid != paid.quantize(quantum):
            paid = listed + quantum
        return (
            _dumps(_replace(record, _AMOUNT, json_number(paid))),
            record["transactionId"],
            ".".join(_AMOUNT),
        )
