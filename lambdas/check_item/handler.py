"""CheckItemInShop: the item exists in the shop catalogue, is for sale, and the price matches.

A purchase the shop does not sell so is refused by raising ``ItemNotFound``, ``ItemNotPurchasable``
or ``PriceMismatch`` (lambdas/common/errors.py): the state machine's Catch matches the class name and
dead-letters the transaction with the error attached. The function reads the transaction
ValidateTransaction output (the contract's wire form) and trusts it: it is not validated again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from contracts import Transaction
from contracts.config import get_settings
from lambdas.common import metrics
from lambdas.common.aws import client
from lambdas.common.errors import ItemNotFound, ItemNotPurchasable, PriceMismatch, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("check-item")
tracer = get_tracer("check-item")


def check_purchase(item: dict[str, Any] | None, item_id: str, game: str, currency: str, amount: Decimal) -> None:
    """Raise the rejection for one purchase, given its catalogue item (DynamoDB AV map) or None.

    The message names the field and the rule, never a value (neither the sender's nor the catalogue's)."""
    if item is None:
        raise ItemNotFound("item_purchased.item_id: not in the shop catalogue")
    if not item.get("purchasable", {}).get("BOOL", False):
        raise ItemNotPurchasable("item_purchased.item_id: the item is not for sale")
    listed = item.get("prices", {}).get("M", {}).get(currency)
    if listed is None:
        raise PriceMismatch("item_purchased.price.currency: the item is not sold in this currency")
    if amount != Decimal(listed["N"]):
        raise PriceMismatch("item_purchased.price.amount: differs from the catalogue price in this currency")
    owner = item.get("game", {}).get("S")
    if owner is not None and owner != game:
        raise ItemNotFound("game: the item belongs to another game's catalogue")


def check_against(item: dict[str, Any] | None, tx: dict[str, Any]) -> None:
    """check_purchase for a wire-form transaction dict."""
    purchased = tx["item_purchased"]
    price = purchased["price"]
    check_purchase(item, purchased["item_id"], tx["game"], price["currency"], Decimal(str(price["amount"])))


def check_transaction(item: dict[str, Any] | None, tx: Transaction) -> None:
    """check_purchase for a validated Transaction (no serialisation)."""
    bought = tx.item_purchased
    check_purchase(item, bought.item_id, tx.game, bought.price.currency, bought.price.amount)


def check_item(tx: dict[str, Any]) -> dict[str, Any]:
    """The validated transaction's purchase against the catalogue: its id when the shop sells it so,
    else the rejection raised (ItemNotFound, ItemNotPurchasable, PriceMismatch)."""
    settings = get_settings()
    found = client("dynamodb").get_item(
        TableName=settings.item_catalogue_table,
        Key={"item_id": {"S": tx["item_purchased"]["item_id"]}},
        ConsistentRead=True,
    )
    check_against(found.get("Item"), tx)
    return {"transaction_id": tx["transactionId"], "purchasable": True}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with metrics.stage("CheckItemInShop"):
        try:
            return check_item(event["transaction"])
        except (ItemNotFound, ItemNotPurchasable, PriceMismatch) as rejection:
            metrics.rejected("api", type(rejection).__name__)
            raise
