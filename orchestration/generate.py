"""Seeded, reproducible sample transactions in the contract's wire format (NDJSON).

``mtx generate --count N --seed S --invalid-share F --duplicate-share F --out PATH|-``

Valid records look like ``Transaction.to_json_dict()`` output (the shape of the product brief's example,
amounts as JSON numbers, UTC timestamps ending in ``Z``) and are priced from
:mod:`orchestration.catalogue`. The simulated world:

* a population of players (``user_000123456``) with a heavy-tailed (Pareto)
  purchase frequency, so a few whales make many purchases and spend more;
* each player has a home server region, a currency that follows the region, a
  preferred payment method (card players keep one card), a home IP address
  (IPv4, some IPv6) and a favourite game;
* games and items drawn with skew (cheap consumables sell most), statuses mostly
  ``completed``, gateways that fit the payment method;
* event timestamps in time order over ``[start, end)`` (default: the 90 days
  before 2026-11-01), with a daily cycle, busier weekends, slow growth and a
  season-launch spike.

Besides valid records, a configurable share of labelled bad records
(:data:`INVALID_KINDS`, split evenly) and of duplicates (exact re-sends of an
earlier valid record, same ``transactionId``). Contract kinds fail
``contracts.validate_transaction`` on the field in :attr:`GeneratedRecord.field`;
catalogue kinds pass the contract but fail the shop check.

Speed: lines are built from pre-computed parts with orjson (no pydantic per record).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import sys
import time
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate
from os import PathLike
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import orjson

from contracts.currencies import MINOR_UNITS
from contracts.transaction import (
    CARD_METHODS,
    Gateway,
    ItemType,
    PaymentMethod,
    ServerRegion,
    TransactionStatus,
)
from orchestration.catalogue import BY_ID, CATALOGUE, GAMES, CatalogueItem

DEFAULT_END = date(2026, 11, 1)
DEFAULT_DAYS = 90

VALID = "valid"
DUPLICATE = "duplicate"
#: Kinds that fail the transaction contract (``InvalidTransaction``).
CONTRACT_KINDS: tuple[str, ...] = (
    "malformed_json",
    "missing_field",
    "mistyped_field",
    "negative_amount",
    "absurd_amount",
    "unknown_currency",
)
#: Kinds that pass the contract but fail the shop check (ItemNotFound, ItemNotPurchasable, PriceMismatch).
CATALOGUE_KINDS: tuple[str, ...] = ("unknown_item", "not_for_sale", "price_mismatch")
INVALID_KINDS: tuple[str, ...] = CONTRACT_KINDS + CATALOGUE_KINDS
KINDS: tuple[str, ...] = (VALID, *INVALID_KINDS, DUPLICATE)


@dataclass(frozen=True)
class GeneratedRecord:
    """One NDJSON line and what it is.

    ``transaction_id`` is the id a consumer can read from the line (None when the
    line is not JSON or its ``transactionId`` is missing or not a string: the same
    rule as ``InvalidTransaction.transaction_id``). ``field`` is the wire path of
    the defect (``"$"`` for malformed JSON), None for valid records and duplicates.
    """

    line: str
    transaction_id: str | None
    kind: str
    field: str | None = None


# --------------------------------------------------------------------------- world

T = TypeVar("T")


class _Weighted(Generic[T]):
    """Weighted choice from a uniform draw in [0, 1): one bisect, no allocation."""

    __slots__ = ("cum", "hi", "total", "values")

    def __init__(self, weights: Iterable[tuple[T, float]]) -> None:
        pairs = [(v, float(w)) for v, w in weights if w > 0]
        if not pairs:
            raise ValueError("no positive weight")
        self.values: list[T] = [v for v, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))
        self.total = self.cum[-1]
        self.hi = len(self.cum) - 1

    def pick(self, r: float) -> T:
        return self.values[bisect(self.cum, r * self.total, 0, self.hi)]


_R = ServerRegion
_PM = PaymentMethod
_GW = Gateway

_REGIONS = _Weighted(
    [
        (_R.NA_EAST, 22),
        (_R.NA_WEST, 14),
        (_R.EU_WEST, 22),
        (_R.EU_EAST, 10),
        (_R.SA_EAST, 9),
        (_R.ASIA_PACIFIC, 15),
        (_R.OCEANIA, 4),
        (_R.MIDDLE_EAST, 4),
    ]
)

_REGION_CURRENCY: dict[ServerRegion, _Weighted[str]] = {
    _R.NA_EAST: _Weighted([("USD", 86), ("CAD", 14)]),
    _R.NA_WEST: _Weighted([("USD", 84), ("CAD", 11), ("MXN", 5)]),
    _R.EU_WEST: _Weighted([("EUR", 68), ("GBP", 29), ("USD", 3)]),
    _R.EU_EAST: _Weighted([("PLN", 45), ("EUR", 45), ("USD", 10)]),
    _R.SA_EAST: _Weighted([("BRL", 86), ("USD", 9), ("MXN", 5)]),
    _R.ASIA_PACIFIC: _Weighted([("JPY", 46), ("KRW", 40), ("USD", 14)]),
    _R.OCEANIA: _Weighted([("AUD", 80), ("NZD", 16), ("USD", 4)]),
    _R.MIDDLE_EAST: _Weighted([("USD", 55), ("AED", 30), ("EUR", 15)]),
}

_DEFAULT_METHODS: dict[PaymentMethod, float] = {
    _PM.CREDIT_CARD: 36,
    _PM.DEBIT_CARD: 14,
    _PM.PAYPAL: 16,
    _PM.APPLE_PAY: 10,
    _PM.GOOGLE_PAY: 8,
    _PM.GIFT_CARD: 5,
    _PM.STORE_WALLET: 8,
    _PM.BANK_TRANSFER: 3,
}


def _methods(**changes: float) -> _Weighted[PaymentMethod]:
    weights = dict(_DEFAULT_METHODS)
    for name, weight in changes.items():
        weights[PaymentMethod(name)] = weight
    return _Weighted(weights.items())


_REGION_METHODS: dict[ServerRegion, _Weighted[PaymentMethod]] = {
    _R.NA_EAST: _methods(),
    _R.NA_WEST: _methods(apple_pay=13),
    _R.EU_WEST: _methods(credit_card=24, debit_card=22, paypal=24),
    _R.EU_EAST: _methods(credit_card=20, debit_card=24, bank_transfer=14, paypal=14),
    _R.SA_EAST: _methods(credit_card=40, debit_card=8, bank_transfer=20, apple_pay=3, paypal=8),
    _R.ASIA_PACIFIC: _methods(store_wallet=22, paypal=5, gift_card=9, google_pay=12),
    _R.OCEANIA: _methods(apple_pay=14),
    _R.MIDDLE_EAST: _methods(gift_card=12, store_wallet=12, paypal=8),
}

_CARD_GATEWAYS = [(_GW.STRIPE, 45), (_GW.ADYEN, 25), (_GW.BRAINTREE, 12), (_GW.WORLDPAY, 12), (_GW.XSOLLA, 6)]
_METHOD_GATEWAYS: dict[PaymentMethod, _Weighted[Gateway]] = {
    _PM.CREDIT_CARD: _Weighted(_CARD_GATEWAYS),
    _PM.DEBIT_CARD: _Weighted(_CARD_GATEWAYS),
    _PM.PAYPAL: _Weighted([(_GW.PAYPAL, 90), (_GW.BRAINTREE, 10)]),
    _PM.APPLE_PAY: _Weighted([(_GW.STRIPE, 55), (_GW.ADYEN, 35), (_GW.BRAINTREE, 10)]),
    _PM.GOOGLE_PAY: _Weighted([(_GW.STRIPE, 55), (_GW.ADYEN, 35), (_GW.BRAINTREE, 10)]),
    _PM.GIFT_CARD: _Weighted([(_GW.XSOLLA, 70), (_GW.ADYEN, 30)]),
    _PM.STORE_WALLET: _Weighted([(_GW.XSOLLA, 100)]),
    _PM.BANK_TRANSFER: _Weighted([(_GW.ADYEN, 45), (_GW.WORLDPAY, 30), (_GW.XSOLLA, 25)]),
}

_STATUSES = _Weighted(
    [
        (TransactionStatus.COMPLETED, 93.0),
        (TransactionStatus.PENDING, 3.5),
        (TransactionStatus.FAILED, 2.5),
        (TransactionStatus.REFUNDED, 1.0),
    ]
)

_GAME_POPULARITY = _Weighted(zip(GAMES, (28, 22, 16, 14, 12, 8), strict=True))

_TYPE_APPEAL: dict[ItemType, float] = {
    ItemType.CURRENCY: 3.0,
    ItemType.LOOT_BOX: 2.6,
    ItemType.BOOST: 2.4,
    ItemType.BATTLE_PASS: 2.6,
    ItemType.COSMETIC: 2.0,
    ItemType.BUNDLE: 1.5,
    ItemType.EMOTE: 1.4,
    ItemType.CHARACTER: 1.6,
}

# Public first octets / IPv6 prefixes by region (plausible, not a geo database).
_IPV4_FIRST: dict[ServerRegion, tuple[int, ...]] = {
    region: tuple(int(octet) for octet in octets.split())
    for region, octets in {
        _R.NA_EAST: "3 23 24 50 63 64 65 66 67 68 69 70 71 72 73 74 96 98 104 107 108 173 174",
        _R.NA_WEST: "4 8 12 24 50 64 66 67 68 69 70 71 75 76 97 99 104 107 108 172 173 184",
        _R.EU_WEST: "2 5 31 37 46 62 77 78 80 81 82 83 84 85 86 87 88 90 92 109 176 212 213",
        _R.EU_EAST: "5 31 37 46 77 78 79 83 89 91 93 94 95 109 178 185 188 193 194 195 217",
        _R.SA_EAST: "138 143 152 177 179 181 186 187 189 190 191 200 201",
        _R.ASIA_PACIFIC: "1 14 27 36 39 42 49 58 59 60 61 101 110 111 112 113 114 115 116 118",
        _R.OCEANIA: "1 27 49 58 101 103 110 115 120 121 124 139 144 202 203",
        _R.MIDDLE_EAST: "2 5 31 37 46 77 78 82 86 87 89 91 92 94 176 178 185 188 212 213",
    }.items()
}
_IPV6_PREFIX: dict[ServerRegion, tuple[str, ...]] = {
    _R.NA_EAST: ("2600", "2601", "2603"),
    _R.NA_WEST: ("2600", "2602", "2607"),
    _R.EU_WEST: ("2a01", "2a02", "2a03"),
    _R.EU_EAST: ("2a00", "2a02", "2a05"),
    _R.SA_EAST: ("2800", "2804"),
    _R.ASIA_PACIFIC: ("2400", "2404", "240e"),
    _R.OCEANIA: ("2401", "2403"),
    _R.MIDDLE_EAST: ("2a00", "2a02", "2a0d"),
}
_IPV6_SHARE = 0.15

# UTC hour-of-day load: a blend of the regions' evenings (EU + NA peak around 19-21 UTC).
_HOUR_LOAD = (
    0.95, 0.85, 0.75, 0.65, 0.58, 0.52, 0.48, 0.47, 0.50, 0.58, 0.68, 0.78,
    0.88, 0.98, 1.08, 1.18, 1.28, 1.38, 1.48, 1.56, 1.58, 1.50, 1.32, 1.12,
)  # fmt: skip
_WEEKDAY_LOAD = (0.92, 0.90, 0.92, 0.95, 1.05, 1.22, 1.20)  # Monday..Sunday


def _json_number(amount: Decimal) -> int | float:
    """The JSON number for an amount, as ``Transaction.to_json_dict()`` writes it."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS[currency])


def _item_appeal(item: CatalogueItem, whale: bool) -> float:
    usd = float(item.prices["USD"])
    appeal = _TYPE_APPEAL[item.item_type]
    # Regular players favour cheap consumables; whales buy across the range.
    return appeal * usd**0.5 if whale else appeal / usd**0.6


class _World:
    """Everything drawn once per run: players, item choices, the time axis."""

    def __init__(self, rng: random.Random, n: int, start: date, end: date) -> None:
        self.items: tuple[CatalogueItem, ...] = CATALOGUE
        index = {item.item_id: i for i, item in enumerate(CATALOGUE)}
        games = list(GAMES)
        self.games = games
        self.game_items: list[tuple[_Weighted[int], _Weighted[int]]] = []
        for game in games:
            for_sale = [item for item in CATALOGUE if item.game == game and item.purchasable]
            self.game_items.append(
                (
                    _Weighted((index[it.item_id], _item_appeal(it, whale=False)) for it in for_sale),
                    _Weighted((index[it.item_id], _item_appeal(it, whale=True)) for it in for_sale),
                )
            )
        self.game_index = {game: i for i, game in enumerate(games)}
        self.not_for_sale = [index[it.item_id] for it in CATALOGUE if not it.purchasable]
        self.purchasable = [index[it.item_id] for it in CATALOGUE if it.purchasable]
        # The wire form of item_purchased for every (item, currency): shared, never mutated.
        self.item_wire: list[dict[str, dict[str, Any]]] = [
            {
                cur: {
                    "item_id": it.item_id,
                    "item_name": it.item_name,
                    "item_type": it.item_type.value,
                    "price": {"currency": cur, "amount": _json_number(amount)},
                }
                for cur, amount in it.prices.items()
            }
            for it in CATALOGUE
        ]
        self._players(rng, n)
        self._time_axis(n, start, end)

    def _players(self, rng: random.Random, n: int) -> None:
        count = min(max(50, n // 8), 2_000_000)
        rnd = rng.random
        ids = rng.sample(range(1, 1_000_000_000), count)
        self.user_id = [f"user_{uid:09d}" for uid in ids]
        weights = [min(rng.paretovariate(1.2), 250.0) for _ in range(count)]
        self.whale = [w >= 20.0 for w in weights]
        self.user_cum = list(accumulate(weights))
        self.region: list[str] = []
        self.currency: list[str] = []
        self.method: list[str] = []
        self.last4: list[str] = []
        self.ip: list[str] = []
        self.ip_first: list[tuple[int, ...]] = []
        self.favourite: list[int] = []
        for _ in range(count):
            region = _REGIONS.pick(rnd())
            self.region.append(region.value)
            self.currency.append(_REGION_CURRENCY[region].pick(rnd()))
            self.method.append(_REGION_METHODS[region].pick(rnd()).value)
            self.last4.append(f"{rng.randrange(10_000):04d}")
            first = _IPV4_FIRST[region]
            self.ip_first.append(first)
            if rnd() < _IPV6_SHARE:
                prefix = rng.choice(_IPV6_PREFIX[region])
                tail = ":".join(f"{rng.getrandbits(16):x}" for _ in range(7))
                self.ip.append(ipaddress.IPv6Address(f"{prefix}:{tail}").compressed)
            else:
                b = rng.getrandbits(24)
                self.ip.append(f"{rng.choice(first)}.{b >> 16}.{(b >> 8) & 255}.{(b & 255) or 1}")
            self.favourite.append(self.game_index[_GAME_POPULARITY.pick(rnd())])
        self.method_choice = {region.value: picker for region, picker in _REGION_METHODS.items()}

    def _time_axis(self, n: int, start: date, end: date) -> None:
        days = (end - start).days
        launch = days * 2 // 5
        spike = {launch: 2.6, launch + 1: 1.9, launch + 2: 1.4, launch + 3: 1.15}
        loads: list[float] = []
        self.day_prefix: list[str] = []
        for d in range(days):
            day = start + timedelta(days=d)
            self.day_prefix.append(day.isoformat() + "T")
            day_load = _WEEKDAY_LOAD[day.weekday()] * (1.0 + 0.15 * d / days) * spike.get(d, 1.0)
            loads.extend(day_load * h for h in _HOUR_LOAD)
        self.hour_load = loads
        self.hour_start = [0.0, *accumulate(loads)]  # cumulative load at the start of each hour
        self.last_hour = len(loads) - 1
        self.step = self.hour_start[-1] / max(n, 1)
        self.hms = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]


# ----------------------------------------------------------------------- mutations

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


class _Mutator:
    """Turns a valid base record into a labelled bad one."""

    def __init__(self, rng: random.Random, world: _World) -> None:
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
        value = -amount if self.rng.random() < 0.8 else -_json_number(_quantum(currency))
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
            "price": {"currency": currency, "amount": _json_number(amount)},
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
        quantum = _quantum(currency)
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
            _dumps(_replace(record, _AMOUNT, _json_number(paid))),
            record["transactionId"],
            ".".join(_AMOUNT),
        )


# ----------------------------------------------------------------------- generator

_RECENT = 512  # duplicates re-send one of the last _RECENT valid records
_UUID4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_BITS = (0x4 << 76) | (0x2 << 62)


def _plan(n: int, invalid_share: float, duplicate_share: float) -> dict[str, int]:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    for name, share in (("invalid_share", invalid_share), ("duplicate_share", duplicate_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {share}")
    if invalid_share + duplicate_share > 1.0:
        raise ValueError("invalid_share + duplicate_share must be at most 1")
    n_invalid = round(n * invalid_share)
    n_duplicate = min(round(n * duplicate_share), n - n_invalid)
    if n_duplicate and n_invalid + n_duplicate >= n:
        raise ValueError("duplicates need at least one valid record to re-send")
    counts = dict.fromkeys(INVALID_KINDS, n_invalid // len(INVALID_KINDS))
    for kind in INVALID_KINDS[: n_invalid % len(INVALID_KINDS)]:
        counts[kind] += 1
    counts[DUPLICATE] = n_duplicate
    counts[VALID] = n - n_invalid - n_duplicate
    return counts


def _date_range(start: date | None, end: date | None) -> tuple[date, date]:
    if end is None:
        end = start + timedelta(days=DEFAULT_DAYS) if start is not None else DEFAULT_END
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ValueError(f"start {start} must be before end {end}")
    return start, end


def generate(
    n: int,
    *,
    seed: int = 42,
    invalid_share: float = 0.05,
    duplicate_share: float = 0.01,
    start: date | None = None,
    end: date | None = None,
) -> Iterator[GeneratedRecord]:
    """Exactly ``n`` records, reproducible for a seed, event times in ``[start, end)`` UTC.

    ``invalid_share`` of them are bad records split evenly over :data:`INVALID_KINDS`;
    ``duplicate_share`` are exact re-sends of an earlier valid record; the rest are valid.
    """
    counts = _plan(n, invalid_share, duplicate_share)
    first, last = _date_range(start, end)
    return _generate(n, seed, counts, first, last)


def _generate(n: int, seed: int, counts: dict[str, int], start: date, end: date) -> Iterator[GeneratedRecord]:
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not a secret
    world = _World(rng, n, start, end)
    mutator = _Mutator(rng, world)

    # Which positions hold which non-valid kind (record 0 is valid when duplicates exist).
    kinds = [kind for kind in (*INVALID_KINDS, DUPLICATE) for _ in range(counts[kind])]
    rng.shuffle(kinds)
    low = 1 if counts[DUPLICATE] else 0
    special = dict(zip(rng.sample(range(low, n), len(kinds)), kinds, strict=True)) if kinds else {}

    rnd = rng.random
    getrandbits = rng.getrandbits
    dumps = orjson.dumps
    step, hour_start, hour_load, last_hour = world.step, world.hour_start, world.hour_load, world.last_hour
    day_prefix, hms = world.day_prefix, world.hms
    user_cum = world.user_cum
    user_total = user_cum[-1]
    user_hi = len(user_cum) - 1
    user_id, whale, region, currency = world.user_id, world.whale, world.region, world.currency
    method, last4, home_ip, ip_first = world.method, world.last4, world.ip, world.ip_first
    favourite, games, game_items, item_wire = world.favourite, world.games, world.game_items, world.item_wire
    method_choice = world.method_choice
    game_pick = _GAME_POPULARITY.pick
    status_pick = _STATUSES.pick
    gateway_pick = {m.value: picker.pick for m, picker in _METHOD_GATEWAYS.items()}
    card_methods = {m.value for m in CARD_METHODS}
    game_index = world.game_index
    recent: list[GeneratedRecord] = []

    for i in range(n):
        kind = special.get(i, VALID)
        # Event time: quantile (i + r) / n of the load curve, so the stream is in time order.
        q = (i + rnd()) * step
        hour = min(bisect(hour_start, q) - 1, last_hour)
        second = int((q - hour_start[hour]) / hour_load[hour] * 3600.0)
        event_timestamp = day_prefix[hour // 24] + hms[(hour % 24) * 3600 + min(max(second, 0), 3599)]
        if kind == DUPLICATE:
            original = recent[int(rnd() * len(recent))]
            yield GeneratedRecord(original.line, original.transaction_id, DUPLICATE)
            continue

        u = bisect(user_cum, rnd() * user_total, 0, user_hi)
        g = favourite[u] if rnd() < 0.7 else game_index[game_pick(rnd())]
        item = game_items[g][whale[u]].pick(rnd())
        cur = currency[u]
        pm = method[u] if rnd() < 0.88 else method_choice[region[u]].pick(rnd()).value
        if pm in card_methods:
            payment = {
                "payment_method": pm,
                "card_last4": last4[u],
                "transaction_status": status_pick(rnd()).value,
                "gateway": gateway_pick[pm](rnd()).value,
            }
        else:
            payment = {
                "payment_method": pm,
                "transaction_status": status_pick(rnd()).value,
                "gateway": gateway_pick[pm](rnd()).value,
            }
        if rnd() < 0.1:  # on the move: another address in the same region
            b = getrandbits(24)
            ip = f"{ip_first[u][b % len(ip_first[u])]}.{(b >> 8) & 255}.{b >> 16}.{(b & 127) + 2}"
        else:
            ip = home_ip[u]
        h = f"{getrandbits(128) & _UUID4_MASK | _UUID4_BITS:032x}"  # a random (version 4) UUID
        tx_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        record = {
            "transactionId": tx_id,
            "user_id": user_id[u],
            "game": games[g],
            "item_purchased": item_wire[item][cur],
            "payment_details": payment,
            "event_timestamp": event_timestamp,
            "server_region": region[u],
            "client_ip": ip,
        }
        if kind == VALID:
            generated = GeneratedRecord(dumps(record).decode(), tx_id, VALID)
            if len(recent) < _RECENT:
                recent.append(generated)
            else:
                recent[i % _RECENT] = generated
            yield generated
        else:
            yield mutator.make(kind, record, item, cur)


# -------------------------------------------------------------------------- output

_BATCH = 4096


def _write(stream: IO[str], records: Iterable[GeneratedRecord]) -> Counter[str]:
    counts: Counter[str] = Counter()
    batch: list[str] = []
    kinds: list[str] = []
    for record in records:
        batch.append(record.line)
        kinds.append(record.kind)
        if len(batch) == _BATCH:
            batch.append("")
            stream.write("\n".join(batch))
            counts.update(kinds)
            batch.clear()
            kinds.clear()
    if batch:
        batch.append("")
        stream.write("\n".join(batch))
        counts.update(kinds)
    return counts


def write_ndjson(path: str | PathLike[str], n: int, **kw: Any) -> Counter[str]:
    """Stream ``generate(n, **kw)`` to an NDJSON file; return the number of records per kind."""
    records = generate(n, **kw)
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        return _write(stream, records)


# ----------------------------------------------------------------------------- CLI


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", "-n", type=_count, default=1000, help="number of records (default 1000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same bytes (default 42)")
    parser.add_argument("--invalid-share", type=_share, default=0.05, help="share of bad records, split over the kinds")
    parser.add_argument("--duplicate-share", type=_share, default=0.01, help="share of re-sent records")
    parser.add_argument("--start", type=date.fromisoformat, default=None, help="first event date (UTC)")
    parser.add_argument(
        "--end", type=date.fromisoformat, default=None, help=f"end date, exclusive (default {DEFAULT_END})"
    )
    parser.add_argument("--out", "-o", default="-", help="output NDJSON file, or - for stdout (default)")


def run(args: argparse.Namespace) -> int:
    """``mtx generate``: write the records (file or stdout), the counts per kind to stderr."""
    began = time.perf_counter()
    try:
        records = generate(
            args.count,
            seed=args.seed,
            invalid_share=args.invalid_share,
            duplicate_share=args.duplicate_share,
            start=args.start,
            end=args.end,
        )
    except ValueError as exc:
        print(f"mtx generate: {exc}", file=sys.stderr)
        return 2
    if args.out == "-":
        try:
            counts = _write(sys.stdout, records)
            sys.stdout.flush()
        except BrokenPipeError:  # `mtx generate | head`: the reader has had enough
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        target = "stdout"
    else:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="\n") as stream:
            counts = _write(stream, records)
        target = str(path)
    elapsed = time.perf_counter() - began
    print(f"generated {args.count} records (seed {args.seed}) to {target} in {elapsed:.2f} s", file=sys.stderr)
    for kind in KINDS:
        print(f"  {kind:<17}{counts.get(kind, 0):>10}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mtx generate", description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
