"""DynamoDB tables for tests against moto: the key shape the real-time aggregates table uses (pk, sk strings)."""

from __future__ import annotations

from typing import Any


def create_pk_sk_table(client: Any, name: str) -> None:
    """An on-demand table keyed by string ``pk`` (hash) and ``sk`` (range)."""
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
    )  # fmt: skip
