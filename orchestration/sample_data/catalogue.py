"""The item-shop catalogue: what each game sells, at which price in which currency.

Deterministic (a literal table, no randomness): the local stack loads it into the
DynamoDB item-catalogue table (partition key ``item_id``), the ``check_item``
Lambda reads it back, and the sample-data generator prices its records from it.

Prices follow store price tiers (like app-store tiers), not FX conversions: each
item has a USD tier and the tier gives the listed price in every currency, at the
currency's minor units (JPY and KRW are whole numbers). The seed payload
(``mtx_abyssal_wings``, 10 USD) is in the catalogue and valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from contracts.currencies import MINOR_UNITS
from contracts.transaction import ItemType

# Price tiers (like app-store tiers): the USD tier of an item gives its listed price in every currency.
_TIER_TABLE = """
tier   USD    EUR    GBP    JPY    BRL     KRW     CAD     AUD     PLN     MXN      NZD     AED
0.99   0.99   0.99   0.89   160    5.90    1400    1.39    1.49    4.49    19.00    1.69    3.69
1.99   1.99   1.99   1.79   300    10.90   2900    2.79    2.99    8.99    39.00    3.49    7.49
2.99   2.99   2.99   2.49   480    16.90   4400    3.99    4.49    12.99   59.00    4.99    10.99
4.99   4.99   4.99   4.49   800    27.90   7500    6.99    7.99    21.99   99.00    8.49    18.49
9.99   9.99   9.99   8.99   1500   54.90   14000   13.99   15.99   44.99   199.00   16.99   36.99
10.00  10.00  10.00  9.00   1600   55.00   15000   14.00   16.00   45.00   200.00   17.00   37.00
14.99  14.99  14.99  13.99  2200   79.90   22000   19.99   22.99   64.99   299.00   24.99   54.99
19.99  19.99  19.99  17.99  3000   109.90  29000   27.99   29.99   89.99   399.00   32.99   73.99
24.99  24.99  24.99  22.99  3800   139.90  36000   34.99   37.99   109.99  499.00   41.99   91.99
49.99  49.99  49.99  44.99  7800   279.90  73000   69.99   79.99   219.99  999.00   84.99   184.99
99.99  99.99  99.99  89.99  15000  549.90  149000  139.99  159.99  449.99  1999.00  169.99  369.99
"""


def _parse_tiers(table: str) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    header, *rows = (line.split() for line in table.strip().splitlines())
    return tuple(header[1:]), {row[0]: tuple(row[1:]) for row in rows}


#: Currencies every item is listed in (ISO 4217).
CURRENCIES, _TIERS = _parse_tiers(_TIER_TABLE)


def _tier_prices(tier: str) -> dict[str, Decimal]:
    return {cur: Decimal(text) for cur, text in zip(CURRENCIES, _TIERS[tier], strict=True)}


#: The shop's merchandising category of each item type (the catalogue's ``category`` attribute, which the
#: Enrich stage copies to the analytics record): vanity, progression, chance, content or currency.
CATEGORY_OF_TYPE: Mapping[ItemType, str] = MappingProxyType({
    ItemType.COSMETIC: "vanity", ItemType.EMOTE: "vanity", ItemType.BOOST: "progression",
    ItemType.BATTLE_PASS: "progression", ItemType.LOOT_BOX: "chance", ItemType.CHARACTER: "content",
    ItemType.BUNDLE: "content", ItemType.CURRENCY: "currency",
})  # fmt: skip


@dataclass(frozen=True)
class CatalogueItem:
    """One shop item. ``prices`` maps an ISO 4217 code to the listed price (exact Decimal)."""

    item_id: str
    game: str
    item_name: str
    item_type: ItemType
    purchasable: bool
    prices: dict[str, Decimal] = field(hash=False)


# (item_id, item_name, item_type, USD tier, purchasable); "popularity" lives in the generator.
_T = ItemType
_GAMES: dict[str, tuple[tuple[str, str, ItemType, str, bool], ...]] = {
    "Path Of Exile 2": (
        ("mtx_abyssal_wings", "Abyssal Wings", _T.COSMETIC, "10.00", True),
        ("mtx_poe2_points_500", "500 Points", _T.CURRENCY, "4.99", True),
        ("mtx_poe2_points_1050", "1,050 Points", _T.CURRENCY, "9.99", True),
        ("mtx_poe2_stash_tab_bundle", "Stash Tab Bundle", _T.BUNDLE, "19.99", True),
        ("mtx_void_armour_set", "Void Armour Set", _T.COSMETIC, "24.99", True),
        ("mtx_kalguuran_backpack", "Kalguuran Backpack", _T.COSMETIC, "14.99", True),
        ("mtx_ember_portal_effect", "Ember Portal Effect", _T.COSMETIC, "4.99", True),
        ("mtx_poe2_mystery_box", "Mystery Box", _T.LOOT_BOX, "2.99", True),
        ("mtx_poe2_supporter_pack", "Supporter Pack", _T.BUNDLE, "99.99", True),
        ("mtx_poe2_early_access_pack", "Early Access Supporter Pack", _T.BUNDLE, "49.99", False),  # retired
    ),
    "Starfall Arena": (
        ("mtx_sfa_battle_pass_s7", "Season 7 Battle Pass", _T.BATTLE_PASS, "9.99", True),
        ("mtx_sfa_battle_pass_s6", "Season 6 Battle Pass", _T.BATTLE_PASS, "9.99", False),  # past season
        ("mtx_sfa_credits_1000", "1,000 Star Credits", _T.CURRENCY, "9.99", True),
        ("mtx_sfa_credits_2800", "2,800 Star Credits", _T.CURRENCY, "24.99", True),
        ("mtx_sfa_hero_vela", "Hero: Vela", _T.CHARACTER, "9.99", True),
        ("mtx_sfa_hero_kross", "Hero: Kross", _T.CHARACTER, "9.99", True),
        ("mtx_sfa_nebula_skin", "Nebula Skin", _T.COSMETIC, "14.99", True),
        ("mtx_sfa_victory_dance", "Victory Dance", _T.EMOTE, "2.99", True),
        ("mtx_sfa_xp_boost_24h", "XP Boost (24h)", _T.BOOST, "1.99", True),
        ("mtx_sfa_supply_drop", "Supply Drop", _T.LOOT_BOX, "1.99", True),
    ),
    "Kingdoms of Ember": (
        ("mtx_koe_gems_pouch", "Pouch of Gems", _T.CURRENCY, "0.99", True),
        ("mtx_koe_gems_chest", "Chest of Gems", _T.CURRENCY, "19.99", True),
        ("mtx_koe_builder_boost_7d", "Builder Boost (7 days)", _T.BOOST, "4.99", True),
        ("mtx_koe_starter_bundle", "Starter Bundle", _T.BUNDLE, "2.99", True),
        ("mtx_koe_royal_bundle", "Royal Bundle", _T.BUNDLE, "49.99", True),
        ("mtx_koe_dragon_commander", "Dragon Commander", _T.CHARACTER, "24.99", True),
        ("mtx_koe_obsidian_castle", "Obsidian Castle", _T.COSMETIC, "9.99", True),
        ("mtx_koe_war_chest", "War Chest", _T.LOOT_BOX, "4.99", True),
        ("mtx_koe_royal_salute", "Royal Salute", _T.EMOTE, "1.99", True),
        ("mtx_koe_harvest_festival_pack", "Harvest Festival Pack", _T.BUNDLE, "14.99", False),  # seasonal
    ),
    "Neon Drift": (
        ("mtx_nd_chrome_wrap", "Chrome Wrap", _T.COSMETIC, "4.99", True),
        ("mtx_nd_underglow_kit", "Underglow Kit", _T.COSMETIC, "2.99", True),
        ("mtx_nd_racer_nova_reyes", "Racer: Nova Reyes", _T.CHARACTER, "9.99", True),
        ("mtx_nd_nitro_x10", "Nitro Boost x10", _T.BOOST, "0.99", True),
        ("mtx_nd_coins_5000", "5,000 Coins", _T.CURRENCY, "4.99", True),
        ("mtx_nd_season_pass_night_city", "Season Pass: Night City", _T.BATTLE_PASS, "9.99", True),
        ("mtx_nd_neon_crate", "Neon Crate", _T.LOOT_BOX, "1.99", True),
        ("mtx_nd_burnout_celebration", "Burnout Celebration", _T.EMOTE, "0.99", True),
        ("mtx_nd_garage_bundle", "Garage Bundle", _T.BUNDLE, "24.99", True),
        ("mtx_nd_launch_day_livery", "Launch Day Livery", _T.COSMETIC, "1.99", False),  # retired
    ),
    "Mystic Farm": (
        ("mtx_mf_enchanted_seed_pack", "Enchanted Seed Pack", _T.BUNDLE, "0.99", True),
        ("mtx_mf_moonbeans_250", "250 Moonbeans", _T.CURRENCY, "1.99", True),
        ("mtx_mf_moonbeans_1500", "1,500 Moonbeans", _T.CURRENCY, "9.99", True),
        ("mtx_mf_growth_potion", "Growth Potion", _T.BOOST, "0.99", True),
        ("mtx_mf_unicorn_companion", "Unicorn Companion", _T.CHARACTER, "14.99", True),
        ("mtx_mf_creme_brulee_cottage", "Crème Brûlée Cottage", _T.COSMETIC, "4.99", True),
        ("mtx_mf_friendly_wave", "Friendly Wave", _T.EMOTE, "0.99", True),
        ("mtx_mf_mystery_egg", "Mystery Egg", _T.LOOT_BOX, "1.99", True),
        ("mtx_mf_farm_pass", "Farm Pass", _T.BATTLE_PASS, "4.99", True),
        ("mtx_mf_winter_wonder_pack", "Winter Wonder Pack", _T.BUNDLE, "9.99", False),  # seasonal
    ),
    "Frostpeak Legends": (
        ("mtx_fl_crowns_1200", "1,200 Crowns", _T.CURRENCY, "9.99", True),
        ("mtx_fl_glacier_wolf_mount", "Glacier Wolf Mount", _T.COSMETIC, "24.99", True),
        ("mtx_fl_elixir_of_insight", "Elixir of Insight", _T.BOOST, "2.99", True),
        ("mtx_fl_legend_pass", "Legend Pass", _T.BATTLE_PASS, "14.99", True),
        ("mtx_fl_ysolde_the_frostborn", "Ysolde the Frostborn", _T.CHARACTER, "19.99", True),
        ("mtx_fl_rune_cache", "Rune Cache", _T.LOOT_BOX, "4.99", True),
        ("mtx_fl_courtly_bow", "Courtly Bow", _T.EMOTE, "1.99", True),
        ("mtx_fl_aurora_cloak", "Aurora Cloak", _T.COSMETIC, "9.99", True),
        ("mtx_fl_adventurers_bundle", "Adventurer's Bundle", _T.BUNDLE, "49.99", True),
        ("mtx_fl_founders_bundle", "Founder's Bundle", _T.BUNDLE, "99.99", False),  # retired
    ),
}

GAMES: tuple[str, ...] = tuple(_GAMES)

CATALOGUE: tuple[CatalogueItem, ...] = tuple(
    CatalogueItem(item_id, game, name, item_type, purchasable, _tier_prices(tier))
    for game, items in _GAMES.items()
    for item_id, name, item_type, tier, purchasable in items
)

#: item_id -> item (read-only).
BY_ID: Mapping[str, CatalogueItem] = MappingProxyType({item.item_id: item for item in CATALOGUE})

if len(BY_ID) != len(CATALOGUE):  # pragma: no cover - guards edits of the table above
    raise RuntimeError("duplicate item_id in the catalogue")


def _decimal_text(value: Decimal) -> str:
    # Plain notation ("1500", "0.99"), never an exponent: DynamoDB N is a decimal string.
    return format(value, "f")


def to_dynamodb_item(item: CatalogueItem) -> dict[str, Any]:
    """The DynamoDB low-level attribute-value map for PutItem (partition key ``item_id``)."""
    return {
        "item_id": {"S": item.item_id},
        "game": {"S": item.game},
        "item_name": {"S": item.item_name},
        "item_type": {"S": item.item_type.value},
        "category": {"S": CATEGORY_OF_TYPE[item.item_type]},
        "purchasable": {"BOOL": item.purchasable},
        "prices": {"M": {cur: {"N": _decimal_text(amount)} for cur, amount in item.prices.items()}},
    }


def _price(currency: str, text: str) -> Decimal:
    amount = Decimal(text)
    places = MINOR_UNITS.get(currency)
    if places is None:
        return amount
    # DynamoDB normalises numbers ("19.00" comes back as "19"): restore the minor units.
    quantized = amount.quantize(Decimal(1).scaleb(-places))
    if quantized != amount:
        raise ValueError(f"price {text} {currency} has more decimals than {currency} allows ({places})")
    return quantized


def from_dynamodb_item(av: Mapping[str, Any]) -> CatalogueItem:
    """Inverse of :func:`to_dynamodb_item` (also accepts what GetItem/Scan return)."""
    return CatalogueItem(
        item_id=av["item_id"]["S"],
        game=av["game"]["S"],
        item_name=av["item_name"]["S"],
        item_type=ItemType(av["item_type"]["S"]),
        purchasable=bool(av["purchasable"]["BOOL"]),
        prices={cur: _price(cur, value["N"]) for cur, value in av["prices"]["M"].items()},
    )


def dynamodb_items() -> list[dict[str, Any]]:
    """Every catalogue item as a PutItem attribute-value map (to seed the table)."""
    return [to_dynamodb_item(item) for item in CATALOGUE]
