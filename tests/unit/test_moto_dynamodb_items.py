"""The local moto builds an item checking its size once (orchestration/runtime/moto_dynamodb.py
``_item_sized_once``): moto 5.2.5 summed the sizes of all the attributes so far for every attribute it set,
O(n^2) size walks for an item of n attributes. The limit and its error stay moto's (and AWS's)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType

from orchestration.runtime.moto_dynamodb import ITEM_SIZE_LIMIT, patch_moto_dynamodb_writes

pytestmark = pytest.mark.unit


@pytest.fixture
def client(fake_aws_env: None) -> Any:
    patch_moto_dynamodb_writes()
    with mock_aws():
        c = boto3.client("dynamodb", region_name="us-east-1")
        c.create_table(TableName="items", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                       BillingMode="PAY_PER_REQUEST")  # fmt: skip
        yield c


def _item(n: int, value_bytes: int) -> dict[str, Any]:
    # attribute names a0001...: 5 bytes each; "pk" + "k": 3 bytes
    return {"pk": {"S": "k"}, **{f"a{i:04d}": {"S": "x" * value_bytes} for i in range(n)}}


def _size(item: dict[str, Any]) -> int:
    return sum(len(k) + len(v["S"]) for k, v in item.items())


def test_an_item_of_many_attributes_round_trips_with_nested_values(client: Any) -> None:
    item = {**_item(300, 10), "nested": {"M": {"list": {"L": [{"N": "1"}, {"M": {"s": {"S": "v"}}}]}}}}
    client.put_item(TableName="items", Item=item)
    assert client.get_item(TableName="items", Key={"pk": {"S": "k"}})["Item"] == item


def test_the_size_limit_is_moto_s_at_the_byte(client: Any) -> None:
    # 100 attributes of 4,045 bytes: 405,003 bytes in all, over by 3; 4,044: 404,903, under
    over, under = _item(100, 4045), _item(100, 4044)
    assert _size(over) > ITEM_SIZE_LIMIT >= _size(under)
    with pytest.raises(ClientError) as refused:
        client.put_item(TableName="items", Item=over)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Item size has exceeded the maximum allowed size" in refused.value.response["Error"]["Message"]
    assert "Item" not in client.get_item(TableName="items", Key={"pk": {"S": "k"}})
    client.put_item(TableName="items", Item=under)
    assert client.get_item(TableName="items", Key={"pk": {"S": "k"}})["Item"] == under


def test_building_an_item_walks_each_attribute_once(client: Any) -> None:
    """Counted, not timed: moto's own way sized 400 attributes ~80,000 times (n(n+1)/2), this way 400."""
    original = DynamoType.size
    calls = 0

    def counted(self: DynamoType) -> int:
        nonlocal calls
        calls += 1
        return original(self)

    with mock.patch.object(DynamoType, "size", counted):
        client.put_item(TableName="items", Item=_item(400, 3))
    assert 401 <= calls < 2 * 401, calls
