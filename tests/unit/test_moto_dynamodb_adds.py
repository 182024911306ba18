"""The local moto's short way for the real-time rollups' number ADDs (orchestration/runtime/moto_dynamodb_adds.py)
gives what moto's own UpdateItem gives: the same items for the same sequence of updates (new items, existing
items, negative and zero deltas, four-place decimals, through UpdateItem and TransactWriteItems), and moto's own
answer for every request it does not take (a value that is not a number, a reserved name, a key attribute)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orchestration.runtime.moto_dynamodb import patch_moto_dynamodb_writes
from tests.moto_tables import create_pk_sk_table

pytestmark = pytest.mark.unit

#: Always true, and any condition sends the request through moto's own code: the reference to compare with.
MOTO_OWN = {"ConditionExpression": "attribute_not_exists(never_there)"}


@pytest.fixture
def ddb(fake_aws_env: None) -> Iterator[Any]:
    patch_moto_dynamodb_writes()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for table in ("fast", "moto"):
            create_pk_sk_table(client, table)
        yield client


def _update(table: str, key: tuple[str, str], values: dict[str, str]) -> dict[str, Any]:
    return {
        "TableName": table,
        "Key": {"pk": {"S": key[0]}, "sk": {"S": key[1]}},
        "UpdateExpression": "ADD " + ", ".join(f"{n} :{n}" for n in values),
        "ExpressionAttributeValues": {f":{n}": {"N": v} for n, v in values.items()},
        **({} if table == "fast" else MOTO_OWN),
    }


def _items(ddb: Any, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["pk"]["S"], i["sk"]["S"]): i for i in ddb.scan(TableName=table)["Items"]}


def test_the_same_updates_give_the_same_items_as_motos_own_code(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.runtime import moto_dynamodb_adds

    short_way = []
    add_numbers = moto_dynamodb_adds._add_numbers

    def counted(backend: Any, table: str, key: dict[str, Any], adds: list[tuple[str, Any]]) -> Any:
        item = add_numbers(backend, table, key, adds)
        short_way.append(table if item is not None else None)
        return item

    monkeypatch.setattr(moto_dynamodb_adds, "_add_numbers", counted)
    rng = random.Random(11)
    amounts = ["1", "-1", "0.0000", "-0.0000", "9.9900", "-9.9900", "0.0001", "123456.7890", "2"]
    keys = [(f"game#{g}", f"hour#{h}") for g in range(3) for h in range(4)]
    for _ in range(150):
        key = rng.choice(keys)
        names = rng.sample(["purchases", "gross_usd", "refunded_usd", "net_usd"], rng.randint(1, 4))
        values = {n: rng.choice(amounts) for n in names}
        if rng.random() < 0.5:
            for table in ("fast", "moto"):
                ddb.update_item(**_update(table, key, values))
        else:  # in a transaction, as the rollups are written
            ddb.transact_write_items(TransactItems=[{"Update": _update("fast", key, values)}])
            ddb.transact_write_items(TransactItems=[{"Update": _update("moto", key, values)}])

    fast, own = _items(ddb, "fast"), _items(ddb, "moto")
    assert fast == own
    assert len(fast) == len(keys)
    assert short_way == ["fast"] * 150  # every update of "fast" took the short way, none of "moto"


def test_a_cancelled_transaction_leaves_the_adds_undone(ddb: Any) -> None:
    ddb.update_item(**_update("fast", ("g", "h"), {"n": "1"}))
    ddb.put_item(TableName="fast", Item={"pk": {"S": "marker"}, "sk": {"S": "x"}})
    marker = {"Put": {"TableName": "fast", "Item": {"pk": {"S": "marker"}, "sk": {"S": "x"}},
                      "ConditionExpression": "attribute_not_exists(pk)"}}  # fmt: skip
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[marker, {"Update": _update("fast", ("g", "h"), {"n": "5"})},
                                                {"Update": _update("fast", ("g", "new"), {"n": "5"})}])  # fmt: skip
    assert _items(ddb, "fast")[("g", "h")]["n"] == {"N": "1"}
    assert ("g", "new") not in _items(ddb, "fast")


@pytest.mark.parametrize(
    ("existing", "expression", "values"),
    [
        ({"n": {"S": "text"}}, "ADD n :v", {":v": {"N": "1"}}),  # an ADD to a value that is not a number
        ({}, "ADD count :v", {":v": {"N": "1"}}),  # a reserved word
        ({}, "ADD sk :v", {":v": {"N": "1"}}),  # a key attribute
        ({}, "ADD n :v", {":v": {"S": "1"}}),  # not a number value
        ({}, "ADD n :v, n :w", {":v": {"N": "1"}, ":w": {"N": "1"}}),  # the same attribute twice
    ],
)
def test_what_the_short_way_does_not_take_gets_motos_own_answer(
    ddb: Any, existing: dict[str, Any], expression: str, values: dict[str, Any]
) -> None:
    answers = []
    for table, extra in (("fast", {}), ("moto", MOTO_OWN)):
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": "s"}, **existing})
        with pytest.raises(ClientError) as refused:
            ddb.update_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"S": "s"}}, UpdateExpression=expression,
                            ExpressionAttributeValues=values, **extra)  # fmt: skip
        answers.append((refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]))
    assert answers[0] == answers[1]
    assert answers[0][0] == "ValidationException"


def test_an_expression_is_parsed_once() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    patch_moto_dynamodb_writes()
    assert UpdateExpressionParser.make("ADD a :a") is UpdateExpressionParser.make("ADD a :a")
    assert UpdateExpressionParser.make("ADD a :a") is not UpdateExpressionParser.make("ADD b :b")


# ---------------------------------------------------------------- the short way for plain SET / REMOVE


def _status_update(table: str, key: tuple[str, str], sets: dict[str, Any], removes: list[str]) -> dict[str, Any]:
    """``SET #a0 = :v0, plain = :v1 ... REMOVE ...``: names given as ``#name`` half of the time, as the ASL does
    for the reserved ``status``."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts = []
    for i, (name, value) in enumerate(sets.items()):
        target = name
        if name == "status" or i % 2:
            target = f"#a{i}"
            names[target] = name
        values[f":v{i}"] = value
        parts.append(f"{target} = :v{i}")
    expression = ("SET " + ", ".join(parts)) if parts else ""
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return {
        "TableName": table,
        "Key": {"pk": {"S": key[0]}, "sk": {"S": key[1]}},
        "UpdateExpression": expression.strip(),
        **({"ExpressionAttributeNames": names} if names else {}),
        **({"ExpressionAttributeValues": values} if values else {}),
        **({} if table == "fast" else MOTO_OWN),
    }


def test_the_same_status_writes_give_the_same_items_as_motos_own_code(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.runtime import moto_dynamodb_adds

    short_way = []
    set_plain = moto_dynamodb_adds._set_plain

    def counted(*args: Any) -> Any:
        item = set_plain(*args)
        short_way.append(args[1] if item is not None else None)
        return item

    monkeypatch.setattr(moto_dynamodb_adds, "_set_plain", counted)
    rng = random.Random(5)
    plain = [{"S": "COMPLETED"}, {"S": ""}, {"S": "é ü 漢"}, {"S": "2026-12-06T10:00:00Z"}, {"BOOL": True},
             {"BOOL": False}, {"NULL": True}]  # fmt: skip
    attributes = ["status", "updated_at", "completed_at", "error_name", "error_cause", "flag"]
    keys = [("tx", f"k{i}") for i in range(6)]
    for _ in range(120):
        key = rng.choice(keys)
        chosen = rng.sample(attributes, rng.randint(1, 5))
        cut = rng.randint(0, len(chosen))
        sets = {a: rng.choice(plain) for a in chosen[:cut]}
        removes = [a for a in chosen[cut:] if a != "status"]  # a plain reserved name goes to moto's own code
        if not sets and not removes:
            continue
        if rng.random() < 0.5:
            for table in ("fast", "moto"):
                ddb.update_item(**_status_update(table, key, sets, removes))
        else:
            ddb.transact_write_items(TransactItems=[{"Update": _status_update("fast", key, sets, removes)}])
            ddb.transact_write_items(TransactItems=[{"Update": _status_update("moto", key, sets, removes)}])
    fast, own = _items(ddb, "fast"), _items(ddb, "moto")
    assert fast == own
    assert len(fast) == len(keys)
    assert short_way and set(short_way) == {"fast"}  # every update of "fast" took the short way, none of "moto"


@pytest.mark.parametrize(
    ("expression", "names", "values"),
    [
        ("SET status = :v", None, {":v": {"S": "x"}}),  # a reserved word, not as #name
        ("SET a = :w", None, {":v": {"S": "x"}}),  # a :value not defined (and one unused)
        ("SET sk = :v", None, {":v": {"S": "x"}}),  # a key attribute
        ("SET a = :v, a = :w", None, {":v": {"S": "x"}, ":w": {"S": "y"}}),  # the same attribute twice
        ("SET a = :v REMOVE a", None, {":v": {"S": "x"}}),  # set and removed
        ("REMOVE pk", None, None),  # a key attribute removed
    ],
)
def test_status_writes_the_short_way_does_not_take_get_motos_own_answer(
    ddb: Any, expression: str, names: dict[str, str] | None, values: dict[str, Any] | None
) -> None:
    answers = []
    for table, extra in (("fast", {}), ("moto", MOTO_OWN)):
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": "s"}, "a": {"S": "old"}})
        params = {"ExpressionAttributeNames": names} if names else {}
        if values:
            params["ExpressionAttributeValues"] = values
        with pytest.raises(ClientError) as refused:
            ddb.update_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"S": "s"}}, UpdateExpression=expression,
                            **params, **extra)  # fmt: skip
        answers.append((refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]))
    assert answers[0] == answers[1]
    assert answers[0][0] == "ValidationException"


@pytest.mark.parametrize(
    "expression", ["SET more = :v", "SET more = :v REMOVE big", "REMOVE big SET more = :v"]
)  # fmt: skip
def test_a_status_write_near_the_item_size_limit_gets_motos_answer(ddb: Any, expression: str) -> None:
    """Over the limit, or under it only once ``big`` is removed: the clauses run in the order written, as moto
    runs them (the same error, or the same item)."""
    answers = []
    for table, extra in (("fast", {}), ("moto", MOTO_OWN)):
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": "s"}, "big": {"S": "x" * 300_000}})
        try:
            ddb.update_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"S": "s"}}, UpdateExpression=expression,
                            ExpressionAttributeValues={":v": {"S": "y" * 200_000}}, **extra)  # fmt: skip
            item = ddb.get_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {"S": "s"}})["Item"]
            answers.append(sorted(item))
        except ClientError as refused:
            answers.append([refused.response["Error"]["Code"], refused.response["Error"]["Message"]])
    assert answers[0] == answers[1]


def test_a_write_to_an_index_key_gets_motos_answer(ddb: Any) -> None:
    answers = []
    for table, extra in (("fast_gsi", {}), ("moto_gsi", MOTO_OWN)):
        ddb.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "gk", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[{"IndexName": "by_gk", "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "ALL"}}],
        )  # fmt: skip
        for value in ({"BOOL": True}, {"S": ""}):
            try:
                ddb.update_item(TableName=table, Key={"pk": {"S": "p"}}, UpdateExpression="SET gk = :v",
                                ExpressionAttributeValues={":v": value}, **extra)  # fmt: skip
                answers.append((table[-3:], "stored"))
            except ClientError as refused:
                answers.append((table[-3:], refused.response["Error"]["Code"]))
    assert answers[:2] == answers[2:]
    assert ("gsi", "stored") not in answers


# ---------------------------------------------------------------- a condition parsed once


def test_a_condition_is_parsed_once_and_still_decides_and_checks_its_names(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lexed = []
    lex = ConditionExpressionParser._lex_condition_expression

    def counted(self: Any) -> Any:
        lexed.append(self.condition_expression)
        return lex(self)

    monkeypatch.setattr(ConditionExpressionParser, "_lex_condition_expression", counted)
    condition = "attribute_not_exists(pk) OR #s = :failed"
    put = {"TableName": "fast", "Item": {"pk": {"S": "c"}, "sk": {"S": "1"}, "status": {"S": "PENDING"}},
           "ConditionExpression": condition, "ExpressionAttributeNames": {"#s": "status"},
           "ExpressionAttributeValues": {":failed": {"S": "FAILED"}}}  # fmt: skip
    ddb.put_item(**put)
    with pytest.raises(ClientError) as refused:  # the same tree, evaluated against the item now there
        ddb.put_item(**put)
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert lexed == [condition]  # moto's request layer and its backend, twice: one parse
    ddb.update_item(TableName="fast", Key={"pk": {"S": "c"}, "sk": {"S": "1"}}, UpdateExpression="SET #s = :failed",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":failed": {"S": "FAILED"}})  # fmt: skip
    ddb.put_item(**put)  # now the condition holds
    # a name the condition does not use is refused by moto's request layer, from the kept parse too
    unused = {**put, "ExpressionAttributeNames": {"#s": "status", "#u": "unused"}}
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            ddb.put_item(**unused)
        assert "unused" in refused.value.response["Error"]["Message"]
    assert lexed == [condition, condition]
