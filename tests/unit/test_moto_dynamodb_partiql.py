"""BatchExecuteStatement's parameterised INSERTs in the local moto (orchestration/runtime/moto_dynamodb_partiql.py),
as DynamoDB runs them: each statement its own write, ``DuplicateItem`` (and nothing changed) when the key exists,
the others written; more than 25 statements refused whole. moto 5.2.5 alone cannot run such a statement (its
parser refuses the ``?``), and its INSERT of a literal tuple overwrites an existing item."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orchestration.runtime.moto_dynamodb import patch_moto_dynamodb_writes
from orchestration.runtime.moto_dynamodb_partiql import parameterised_insert

pytestmark = pytest.mark.unit

INSERT = "INSERT INTO \"players\" VALUE {'player_id': ?, 'first_transaction_id': ?}"


@pytest.fixture
def client(fake_aws_env: None) -> Any:
    patch_moto_dynamodb_writes()
    with mock_aws():
        c = boto3.client("dynamodb", region_name="us-east-1")
        for name, keys in (("players", ["player_id"]), ("pairs", ["pk", "sk"])):
            c.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                BillingMode="PAY_PER_REQUEST",
            )
        yield c


def _claim(player: str, tx: str) -> dict[str, Any]:
    return {"Statement": INSERT, "Parameters": [{"S": player}, {"S": tx}]}


def _first(client: Any, player: str) -> str | None:
    item = client.get_item(TableName="players", Key={"player_id": {"S": player}}, ConsistentRead=True).get("Item")
    return None if item is None else str(item["first_transaction_id"]["S"])


def test_each_insert_is_its_own_write_and_an_existing_key_is_a_duplicate_left_unchanged(client: Any) -> None:
    client.put_item(TableName="players", Item={"player_id": {"S": "old"}, "first_transaction_id": {"S": "t0"}})
    answer = client.batch_execute_statement(Statements=[_claim("a", "t1"), _claim("old", "t2"), _claim("b", "t3")])
    responses = answer["Responses"]
    assert [r.get("Error", {}).get("Code") for r in responses] == [None, "DuplicateItem", None]
    assert responses[0]["TableName"] == "players"
    assert "t2" not in str(responses[1])  # the refusal carries no value of the statement
    assert (_first(client, "a"), _first(client, "old"), _first(client, "b")) == ("t1", "t0", "t3")


def test_the_same_key_twice_in_one_batch_keeps_the_first(client: Any) -> None:
    answer = client.batch_execute_statement(Statements=[_claim("a", "t1"), _claim("a", "t2")])
    assert [r.get("Error", {}).get("Code") for r in answer["Responses"]] == [None, "DuplicateItem"]
    assert _first(client, "a") == "t1"


def test_a_composite_key_a_missing_key_a_missing_table_and_a_parameter_count(client: Any) -> None:
    pair = "INSERT INTO \"pairs\" VALUE {'pk': ?, 'sk': ?, 'n': ?}"
    no_sk = "INSERT INTO \"pairs\" VALUE {'pk': ?, 'n': ?}"
    nowhere = "INSERT INTO \"nowhere\" VALUE {'pk': ?}"
    answer = client.batch_execute_statement(Statements=[
        {"Statement": pair, "Parameters": [{"S": "p"}, {"S": "1"}, {"N": "1"}]},
        {"Statement": pair, "Parameters": [{"S": "p"}, {"S": "2"}, {"N": "2"}]},
        {"Statement": pair, "Parameters": [{"S": "p"}, {"S": "1"}, {"N": "3"}]},
        {"Statement": no_sk, "Parameters": [{"S": "p"}, {"N": "4"}]},
        {"Statement": nowhere, "Parameters": [{"S": "p"}]},
        {"Statement": pair, "Parameters": [{"S": "p"}, {"S": "3"}]},
    ])  # fmt: skip
    codes = [r.get("Error", {}).get("Code") for r in answer["Responses"]]
    assert codes == [None, None, "DuplicateItem", "ValidationError", "ResourceNotFound", "ValidationError"]
    items = client.query(TableName="pairs", KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues={":p": {"S": "p"}})["Items"]  # fmt: skip
    assert sorted((i["sk"]["S"], i["n"]["N"]) for i in items) == [("1", "1"), ("2", "2")]


def test_an_item_moto_refuses_is_that_statements_error_and_the_others_are_written(client: Any) -> None:
    """A key of the wrong type or an empty key fails its statement alone, as DynamoDB answers it (not the call)."""
    answer = client.batch_execute_statement(Statements=[
        _claim("a", "t1"),
        {"Statement": INSERT, "Parameters": [{"N": "7"}, {"S": "t2"}]},
        _claim("", "t3"),
        _claim("b", "t4"),
    ])  # fmt: skip
    codes = [r.get("Error", {}).get("Code") for r in answer["Responses"]]
    assert codes == [None, "ValidationError", "ValidationError", None]
    assert (_first(client, "a"), _first(client, "b")) == ("t1", "t4")
    assert client.scan(TableName="players")["Count"] == 2


def test_more_than_25_statements_are_refused_whole(client: Any) -> None:
    with pytest.raises(ClientError) as refused:
        client.batch_execute_statement(Statements=[_claim(f"p{i}", "t") for i in range(26)])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert client.scan(TableName="players")["Count"] == 0
    assert len(client.batch_execute_statement(Statements=[_claim(f"p{i}", "t") for i in range(25)])["Responses"]) == 25


def test_only_parameterised_inserts_take_this_way() -> None:
    assert parameterised_insert(INSERT) == ("players", ("player_id", "first_transaction_id"))
    assert parameterised_insert("insert into \"t-1.x\" value {'a':?}") == ("t-1.x", ("a",))
    assert parameterised_insert("INSERT INTO \"players\" VALUE {'player_id': 'p1'}") is None  # a literal: moto's
    assert parameterised_insert('SELECT * FROM "players" WHERE player_id = ?') is None
    assert parameterised_insert('UPDATE "players" SET a = ? WHERE player_id = ?') is None
