"""The redrive's wait for outcomes reads the executions' status items in batches (issue 23: a dead-letter queue
of a busy stream holds thousands of letters; one GetItem per waiting execution per round grew with the queue).
Against moto in-process, with the same boto3 calls the redrive makes in AWS."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestration.cli import dlq
from orchestration.settings import get_settings, reset_settings_cache

pytestmark = pytest.mark.unit

TABLE = "mtx-test-execution-status"


@pytest.fixture
def clients(fake_aws_env: None) -> Iterator[dict[str, Any]]:
    reset_settings_cache()
    with mock_aws():
        found = {name: boto3.client(name, region_name="us-east-1") for name in ("dynamodb", "sqs")}
        found["dynamodb"].create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "transaction_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "transaction_id", "AttributeType": "S"}],
        )  # fmt: skip
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        found["queue"] = found["sqs"].create_queue(QueueName="mtx-test-dlq.fifo", Attributes=attributes)["QueueUrl"]
        yield found
    reset_settings_cache()


def completed(ddb: Any, key: str, execution: str) -> None:
    ddb.put_item(TableName=TABLE, Item={"transaction_id": {"S": key}, "status": {"S": "COMPLETED"},
                                        "execution_id": {"S": execution}})  # fmt: skip


def test_outcomes_are_read_100_status_items_a_call_and_a_shared_key_once(clients: dict[str, Any]) -> None:
    """250 executions settled, one more sharing a key with another (two archived letters of one transaction,
    replayed): three consistent BatchGetItem calls in one round, no GetItem, each key asked once a round (DynamoDB
    refuses a call that repeats a key), and both executions of the shared key get their outcome."""
    ddb = clients["dynamodb"]
    started: dict[str, str | None] = {f"arn-{i}": f"tx-{i}/PURCHASED" for i in range(250)}
    started["arn-twin"] = "tx-0/PURCHASED"
    started["arn-unknown"] = None  # a letter with no key: only a new letter could tell its outcome
    for i in range(250):
        completed(ddb, f"tx-{i}/PURCHASED", f"arn-{i}")
    calls: Counter[str] = Counter()
    keys: list[list[str]] = []

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls[model.name] += 1
        if model.name == "BatchGetItem":
            request = params["RequestItems"][TABLE]
            assert request["ConsistentRead"] is True
            keys.append([k["transaction_id"]["S"] for k in request["Keys"]])

    ddb.meta.events.register("before-parameter-build.dynamodb", count)
    settings = dataclasses.replace(get_settings(), execution_status_table=TABLE)
    outcome, parked = dlq._wait_for_outcomes(clients.__getitem__, settings, clients["queue"], started, 0.0, 0.0)
    assert parked == 0
    assert outcome == {**{f"arn-{i}": "stored" for i in range(250)}, "arn-twin": "duplicate"}
    assert [len(k) for k in keys] == [100, 100, 50] and calls["GetItem"] == 0
    assert len({k for call in keys for k in call}) == 250  # each key once


def test_a_round_asks_only_for_the_executions_still_waiting(clients: dict[str, Any]) -> None:
    """Settled executions drop out of the next round's read; one settled meanwhile is found then."""
    ddb = clients["dynamodb"]
    started: dict[str, str | None] = {f"arn-{i}": f"tx-{i}/PURCHASED" for i in range(3)}
    completed(ddb, "tx-0/PURCHASED", "arn-0")
    completed(ddb, "tx-1/PURCHASED", "someone-else")  # a duplicate: another execution stored it
    keys: list[list[str]] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        keys.append([k["transaction_id"]["S"] for k in params["RequestItems"][TABLE]["Keys"]])
        if len(keys) == 2:  # the last one settles as the second round asks
            completed(ddb, "tx-2/PURCHASED", "arn-2")

    ddb.meta.events.register("before-parameter-build.dynamodb.BatchGetItem", count)
    settings = dataclasses.replace(get_settings(), execution_status_table=TABLE)
    outcome, _ = dlq._wait_for_outcomes(clients.__getitem__, settings, clients["queue"], started, 30.0, 0.0)
    assert outcome == {"arn-0": "stored", "arn-1": "duplicate", "arn-2": "stored"}
    assert keys[0] == ["tx-0/PURCHASED", "tx-1/PURCHASED", "tx-2/PURCHASED"]
    assert keys[1:] == [["tx-2/PURCHASED"]]


def test_keys_left_unprocessed_are_asked_again_in_the_same_round(clients: dict[str, Any]) -> None:
    """Under throttling BatchGetItem answers some keys as UnprocessedKeys (played here on the first answer: every
    item found is taken out of it and named unprocessed): they are asked again at once, so the round still sees
    every settled execution and the redrive does not keep (and later run again) a letter it could settle."""
    ddb = clients["dynamodb"]
    started: dict[str, str | None] = {f"arn-{i}": f"tx-{i}/PURCHASED" for i in range(5)}
    for i in range(5):
        completed(ddb, f"tx-{i}/PURCHASED", f"arn-{i}")
    answers: list[int] = []

    def throttle(parsed: dict[str, Any], **_: Any) -> None:
        answers.append(len(parsed.get("Responses", {}).get(TABLE, [])))
        if len(answers) == 1:
            items = parsed["Responses"].pop(TABLE)
            keys = [{"transaction_id": item["transaction_id"]} for item in items]
            parsed["UnprocessedKeys"] = {TABLE: {"Keys": keys, "ConsistentRead": True}}

    ddb.meta.events.register("after-call.dynamodb.BatchGetItem", throttle)
    settings = dataclasses.replace(get_settings(), execution_status_table=TABLE)
    outcome, _ = dlq._wait_for_outcomes(clients.__getitem__, settings, clients["queue"], started, 0.0, 0.0)
    assert answers == [5, 5]
    assert outcome == {f"arn-{i}": "stored" for i in range(5)}
