"""CheckItemInShop: the item exists in the shop catalogue, is for sale, and the price matches."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lambdas.common.aws import client
from lambdas.common.errors import ItemNotFound, ItemNotPurchasable, PipelineError, PriceMismatch
from lambdas.common.logging import get_logger
from orchestration.settings import get_settings

logger = get_logger("check-item")


def check_against(item: dict[str, Any] | None, tx: dict[str, Any]) -> None:
    """Raise the rejection for this transaction, given its catalogue item (AV map) or None."""
    purchased = tx["item_purchased"]
    item_id = purchased["item_id"]
    if item is None:
        raise ItemNotFound(f"item_purchased.item_id: item '{item_id}' is not in the shop catalogue")
    if not item.get("purchasable", {}).get("BOOL", False):
        raise ItemNotPurchasable(f"item_purchased.item_id: item '{item_id}' is not for sale")
    price = purchased["price"]
    currency = price["currency"]
    listed = item.get("prices", {}).get("M", {}).get(currency)
    if listed is None:
        raise PriceMismatch(f"item_purchased.price.currency: item '{item_id}' is not sold in {currency}")
    paid = Decimal(str(price["amount"]))
    if paid != Decimal(listed["N"]):
        raise PriceMismatch(
            f"item_purchased.price.amount: paid {paid} {currency} but '{item_id}' costs {listed['N']} {currency}"
        )
    game = item.get("game", {}).get("S")
    if game is not None and game != tx["game"]:
        raise ItemNotFound(f"game: item '{item_id}' belongs to '{game}', not '{tx['game']}'")


def check_item(tx: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    found = client("dynamodb").get_item(
        TableName=settings.item_catalogue_table,
        Key={"item_id": {"S": tx["item_purchased"]["item_id"]}},
        ConsistentRead=True,
    )
    try:
        check_against(found.get("Item"), tx)
    except PipelineError as exc:
        return {"ok": False, "error": type(exc).__name__, "cause": str(exc)}
    return {"ok": True, "error": None, "cause": None}


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return check_item(event["transaction"])
