"""The simulated world the sample transactions come from, drawn once per run from the seed:

* a population of players (``user_000123456``) with a heavy-tailed (Pareto)
  purchase frequency, so a few whales make many purchases and spend more;
* each player has a home server region, a currency that follows the region, a
  preferred payment method (card players keep one card), a home IP address
  (IPv4, some IPv6) and a favourite game;
* games and items drawn with skew (cheap consumables sell most), statuses mostly
  ``completed``, gateways that fit the payment method;
* a time axis over ``[start, end)`` with a daily cycle, busier weekends, slow growth
  and a season-launch spike.

Items and prices come from :mod:`orchestration.sample_data.catalogue`.
"""

from __future__ import annotations

import ipaddress
import random
from bisect import bisect
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any, Generic, TypeVar

from contracts.currencies import MINOR_UNITS
from contracts.transaction import Gateway, ItemType, PaymentMethod, ServerRegion, TransactionStatus
from orchestration.sample_data.catalogue import CATALOGUE, GAMES, CatalogueItem

T = TypeVar("T")


class Weighted(Generic[T]):
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

_REGIONS = Weighted(
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

REGION_CURRENCY: dict[ServerRegion, Weighted[str]] = {
    _R.NA_EAST: Weighted([("USD", 86), ("CAD", 14)]),
    _R.NA_WEST: Weighted([("USD", 84), ("CAD", 11), ("MXN", 5)]),
    _R.EU_WEST: Weighted([("EUR", 68), ("GBP", 29), ("USD", 3)]),
    _R.EU_EAST: Weighted([("PLN", 45), ("EUR", 45), ("USD", 10)]),
    _R.SA_EAST: Weighted([("BRL", 86), ("USD", 9), ("MXN", 5)]),
    _R.ASIA_PACIFIC: Weighted([("JPY", 46), ("KRW", 40), ("USD", 14)]),
    _R.OCEANIA: Weighted([("AUD", 80), ("NZD", 16), ("USD", 4)]),
    _R.MIDDLE_EAST: Weighted([("USD", 55), ("AED", 30), ("EUR", 15)]),
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


def _methods(**changes: float) -> Weighted[PaymentMethod]:
    weights = dict(_DEFAULT_METHODS)
    for name, weight in changes.items():
        weights[PaymentMethod(name)] = weight
    return Weighted(weights.items())


_REGION_METHODS: dict[ServerRegion, Weighted[PaymentMethod]] = {
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
METHOD_GATEWAYS: dict[PaymentMethod, Weighted[Gateway]] = {
    _PM.CREDIT_CARD: Weighted(_CARD_GATEWAYS),
    _PM.DEBIT_CARD: Weighted(_CARD_GATEWAYS),
    _PM.PAYPAL: Weighted([(_GW.PAYPAL, 90), (_GW.BRAINTREE, 10)]),
    _PM.APPLE_PAY: Weighted([(_GW.STRIPE, 55), (_GW.ADYEN, 35), (_GW.BRAINTREE, 10)]),
    _PM.GOOGLE_PAY: Weighted([(_GW.STRIPE, 55), (_GW.ADYEN, 35), (_GW.BRAINTREE, 10)]),
    _PM.GIFT_CARD: Weighted([(_GW.XSOLLA, 70), (_GW.ADYEN, 30)]),
    _PM.STORE_WALLET: Weighted([(_GW.XSOLLA, 100)]),
    _PM.BANK_TRANSFER: Weighted([(_GW.ADYEN, 45), (_GW.WORLDPAY, 30), (_GW.XSOLLA, 25)]),
}

STATUSES = Weighted(
    [
        (TransactionStatus.COMPLETED, 93.0),
        (TransactionStatus.PENDING, 3.5),
        (TransactionStatus.FAILED, 2.5),
        (TransactionStatus.REFUNDED, 1.0),
    ]
)

GAME_POPULARITY = Weighted(zip(GAMES, (28, 22, 16, 14, 12, 8), strict=True))

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


def json_number(amount: Decimal) -> int | float:
    """The JSON number for an amount, as ``Transaction.to_json_dict()`` writes it."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS[currency])


def _item_appeal(item: CatalogueItem, whale: bool) -> float:
    usd = float(item.prices["USD"])
    appeal = _TYPE_APPEAL[item.item_type]
    # Regular players favour cheap consumables; whales buy across the range.
    return appeal * usd**0.5 if whale else appeal / usd**0.6


class World:
    """Everything drawn once per run: players, item choices, the time axis."""

    def __init__(self, rng: random.Random, n: int, start: date, end: date) -> None:
        self.items: tuple[CatalogueItem, ...] = CATALOGUE
        index = {item.item_id: i for i, item in enumerate(CATALOGUE)}
        games = list(GAMES)
        self.games = games
        self.game_items: list[tuple[Weighted[int], Weighted[int]]] = []
        for game in games:
            for_sale = [item for item in CATALOGUE if item.game == game and item.purchasable]
            self.game_items.append(
                (
                    Weighted((index[it.item_id], _item_appeal(it, whale=False)) for it in for_sale),
                    Weighted((index[it.item_id], _item_appeal(it, whale=True)) for it in for_sale),
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
                    "price": {"currency": cur, "amount": json_number(amount)},
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
            self.currency.append(REGION_CURRENCY[region].pick(rnd()))
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
            self.favourite.append(self.game_index[GAME_POPULARITY.pick(rnd())])
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
