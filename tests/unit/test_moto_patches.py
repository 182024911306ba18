"""The local-only moto patches keep moto's behaviour and remove its O(n^2) SendMessage."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orchestration.runtime.moto_server import (
    patch_moto_dispatch,
    patch_moto_policy_conditions,
    patch_moto_rest_api_policy,
    patch_moto_sqs_send,
)
from tests.helpers import moto_sfn_execution
from tests.moto_tables import create_pk_sk_table

pytestmark = pytest.mark.unit


@pytest.fixture
def sqs() -> Any:
    patch_moto_sqs_send()
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def test_queue_attributes_are_complete_outside_send(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "3"
    assert "VisibilityTimeout" in attrs


def test_fifo_content_based_deduplication_still_deduplicates(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(msgs) == 1
    plain = sqs.create_queue(QueueName="p.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    with pytest.raises(sqs.exceptions.ClientError, match="ContentBasedDeduplication"):
        sqs.send_message(QueueUrl=plain, MessageBody="x", MessageGroupId="g")


def test_send_does_not_count_the_queue(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic form of "O(1) per send": SendMessage never evaluates the message counts."""
    from moto.sqs.models import Queue

    url = sqs.create_queue(QueueName="big")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(10)])
    scans = {"n": 0}
    original = Queue.messages.fget

    def counting(self: Any) -> Any:
        scans["n"] += 1
        return original(self)  # type: ignore[misc]

    monkeypatch.setattr(Queue, "messages", property(counting))
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(10)])
    assert scans["n"] == 0
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "20" and scans["n"] > 0


def test_a_fifo_batch_does_not_count_the_queue(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """SendMessageBatch to a FIFO queue (the dead-letter queue) validates each entry without counting the queue,
    and still refuses an entry without a deduplication id on a queue without content-based deduplication."""
    from moto.sqs.models import Queue

    url = sqs.create_queue(QueueName="dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]

    def entries(first: int) -> list[dict[str, str]]:
        return [{"Id": str(i), "MessageBody": "m", "MessageGroupId": "g", "MessageDeduplicationId": f"d{first + i}"}
                for i in range(10)]  # fmt: skip

    sqs.send_message_batch(QueueUrl=url, Entries=entries(0))
    scans = {"n": 0}
    original = Queue.messages.fget

    def counting(self: Any) -> Any:
        scans["n"] += 1
        return original(self)  # type: ignore[misc]

    monkeypatch.setattr(Queue, "messages", property(counting))
    sqs.send_message_batch(QueueUrl=url, Entries=entries(10))
    assert scans["n"] == 0
    with pytest.raises(sqs.exceptions.ClientError, match="ContentBasedDeduplication"):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "x", "MessageBody": "m", "MessageGroupId": "g"}])
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "20"


def _bucket_with_policy(s3: Any, name: str, statement: dict[str, Any]) -> None:
    s3.create_bucket(Bucket=name)
    statement = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"], **statement}  # fmt: skip
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def test_a_conditioned_deny_that_does_not_match_does_not_deny() -> None:
    """The storage module's DenyInsecureTransport statement: moto 5.2.5 denied every write under it."""
    patch_moto_policy_conditions()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        _bucket_with_policy(s3, "tls-only", {"Condition": {"Bool": {"aws:SecureTransport": "false"}}})
        s3.put_object(Bucket="tls-only", Key="k", Body=b"x")
        assert s3.get_object(Bucket="tls-only", Key="k")["Body"].read() == b"x"


def test_an_unconditioned_deny_still_denies() -> None:
    patch_moto_policy_conditions()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        _bucket_with_policy(s3, "closed", {"Action": "s3:PutObject"})
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket="closed", Key="k", Body=b"x")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_service_list_is_read_once_and_is_the_same() -> None:
    import moto.backends

    before = list(moto.backends.list_of_moto_modules())
    patch_moto_dispatch()
    patch_moto_dispatch()  # idempotent
    assert list(moto.backends.list_of_moto_modules()) == before
    assert {"s3", "sqs", "stepfunctions", "dynamodb"} <= set(before)
    assert moto.backends.list_of_moto_modules() is moto.backends.list_of_moto_modules()  # no listing per call


def test_a_negated_condition_is_left_to_moto() -> None:
    """StringNotEquals matches an absent key in IAM ("deny unless the SSE header says aws:kms"): not made neutral."""
    patch_moto_policy_conditions()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        condition = {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
        _bucket_with_policy(s3, "kms-only", {"Action": "s3:PutObject", "Condition": condition})
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket="kms-only", Key="k", Body=b"x")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_rest_api_policy_reads_back_escaped_as_api_gateway_returns_it() -> None:
    """What the Terraform provider decodes: the policy as the content of a JSON string."""
    patch_moto_rest_api_policy()
    patch_moto_rest_api_policy()  # idempotent: escaped once
    statement = {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "arn:aws:x/GET/a"}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    with mock_aws():
        apigw = boto3.client("apigateway", region_name="us-east-1")
        api = apigw.create_rest_api(name="a")["id"]
        assert "policy" not in apigw.get_rest_api(restApiId=api)  # none set: none returned
        apigw.update_rest_api(
            restApiId=api, patchOperations=[{"op": "replace", "path": "/policy", "value": json.dumps(policy)}]
        )
        returned = apigw.get_rest_api(restApiId=api)["policy"]
    assert returned.startswith('{\\"Version\\"')
    assert json.loads(json.loads(f'"{returned}"')) == policy


def test_fifo_deduplication_ids_are_kept_once_within_five_minutes(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dead-letter queue's deduplication (explicit ids, as the Lambdas send them; content-based, as the
    transaction workflow does), from the patch's index: once within the window, again after it."""
    import orchestration.runtime.moto_server as moto_server

    url = sqs.create_queue(QueueName="dl.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"
    ]
    for body, dedup in [("a", "id-1"), ("a", "id-1"), ("b", "id-2"), ("a", "id-3")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=dedup, MessageDeduplicationId=dedup)
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": "c", "MessageGroupId": "g-c"} for i in range(2)],  # same content
    )
    received = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        received += [m["Body"] for m in batch]
    assert sorted(received) == ["a", "a", "b", "c"]

    later = moto_server.time.time() + moto_server.DEDUPLICATION_WINDOW_SECONDS + 1
    monkeypatch.setattr(moto_server.time, "time", lambda: later)
    sqs.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="id-1", MessageDeduplicationId="id-1")
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    assert int(attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) == 4
    assert int(attrs["Attributes"]["ApproximateNumberOfMessages"]) == 1


def test_each_s3_event_to_eventbridge_has_its_own_id(sqs: Any) -> None:
    """The batch trigger names a run after its event's id: the same file dropped twice is two events."""
    from orchestration.runtime.moto_server import patch_moto_event_ids

    patch_moto_event_ids()
    s3, events = boto3.client("s3", region_name="us-east-1"), boto3.client("events", region_name="us-east-1")
    s3.create_bucket(Bucket="raw")
    s3.put_bucket_notification_configuration(Bucket="raw", NotificationConfiguration={"EventBridgeConfiguration": {}})
    url = sqs.create_queue(QueueName="relay")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"]}
    events.put_rule(Name="incoming", EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule="incoming", Targets=[{"Id": "relay", "Arn": arn}])
    for _ in range(2):
        s3.put_object(Bucket="raw", Key="incoming/a.ndjson", Body=b"{}\n")
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert len(bodies) == 2
    assert len({b["id"] for b in bodies}) == 2


def test_a_cancelled_transaction_puts_back_only_what_it_touched_and_never_copies_the_table() -> None:
    """moto's TransactWriteItems snapshot: the items a cancelled transaction touched are put back (an ADD undone, a
    new item removed); the table is never deep-copied (it used to be, once per item of each transaction)."""
    import copy as copy_module
    from unittest import mock

    from moto.dynamodb.models.table import Table

    from orchestration.runtime.moto_dynamodb import patch_moto_dynamodb_writes

    patch_moto_dynamodb_writes()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_pk_sk_table(ddb, "t")
        for i in range(50):
            ddb.put_item(TableName="t", Item={"pk": {"S": f"other#{i}"}, "sk": {"S": "x"}, "n": {"N": "1"}})
        ddb.put_item(TableName="t", Item={"pk": {"S": "marker"}, "sk": {"S": "v#1"}})

        def items(marker: str) -> list[dict[str, Any]]:
            return [
                {"Update": {"TableName": "t", "Key": {"pk": {"S": "sum"}, "sk": {"S": "h"}},
                            "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": marker}}}},
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "marker"}, "sk": {"S": marker}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ]  # fmt: skip

        real_deepcopy = copy_module.deepcopy
        tables_copied = []

        def spy(value: Any, memo: Any = None) -> Any:
            if isinstance(value, Table):
                tables_copied.append(value.name)
            return real_deepcopy(value, memo)

        with mock.patch.object(copy_module, "deepcopy", spy):
            ddb.transact_write_items(TransactItems=items("v#2"))
            with pytest.raises(ClientError) as cancelled:
                ddb.transact_write_items(TransactItems=items("v#1"))  # the marker exists: cancelled
        assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
        assert tables_copied == []
        got = ddb.get_item(TableName="t", Key={"pk": {"S": "sum"}, "sk": {"S": "h"}})["Item"]
        assert got["n"] == {"N": "1"}  # the second ADD undone
        assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "new"}, "sk": {"S": "v#1"}})
        assert ddb.scan(TableName="t", Select="COUNT")["Count"] == 50 + 4  # the others, both markers, sum, new v#2


def test_a_response_class_is_listed_once_and_a_method_added_later_is_found() -> None:
    import moto.core.responses
    from moto.sqs.responses import SQSResponse

    patch_moto_dispatch()
    names = moto.core.responses.method_names_from_class
    assert names(SQSResponse) is names(SQSResponse)  # listed once per class
    assert "send_message" in names(SQSResponse) and "no_such_action" not in names(SQSResponse)

    class Later(SQSResponse):
        pass

    listed = names(Later)
    Later.patched_in_later = lambda self: None  # type: ignore[attr-defined]
    assert "patched_in_later" in listed


def test_requests_still_reach_their_action_after_the_listing_is_cached(sqs: Any) -> None:
    patch_moto_dispatch()
    url = sqs.create_queue(QueueName="listed-once")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "x"


def test_the_serializer_works_out_a_dicts_keys_once_and_picks_what_moto_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every field moto serializes from a dict gets the keys moto's own lookup gives (checked call by call over
    DynamoDB and Step Functions answers), and a second identical answer works out no key list again."""
    from moto.core import serialize

    from orchestration.runtime import moto_server

    moto_server.patch_moto_serializer_keys()
    # the execution stays RUNNING: one that ran on moto's thread between the two listings would change the answer
    # (a local stack started earlier in the process turns execution on)
    moto_sfn_execution(monkeypatch, on=False)
    picker = serialize.XFormedAttributePicker
    original, cached = moto_server._serializer_keys["original"], picker.get_possible_keys
    seen = {"fields": 0, "worked_out": 0}

    def checked(self: Any, context: Any) -> Any:
        keys = tuple(cached(self, context))
        assert keys == tuple(original(self, context)), context.key
        seen["fields"] += 1
        return keys

    def counted(self: Any, context: Any) -> Any:
        seen["worked_out"] += 1
        return original(self, context)

    with mock_aws():
        monkeypatch.setattr(picker, "get_possible_keys", checked)
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_pk_sk_table(ddb, "t")
        item = {"pk": {"S": "a"}, "sk": {"S": "b"}, "m": {"M": {"n": {"N": "1"}, "l": {"L": [{"S": "x"}]}}}}
        key = {"pk": {"S": "a"}, "sk": {"S": "b"}}
        ddb.put_item(TableName="t", Item=item)
        assert ddb.get_item(TableName="t", Key=key)["Item"] == item
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="m", definition='{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}',
            roleArn="arn:aws:iam::123456789012:role/r",
        )["stateMachineArn"]  # fmt: skip
        sfn.start_execution(stateMachineArn=machine, name="e1")
        listed = sfn.list_executions(stateMachineArn=machine)["executions"]
        assert [e["name"] for e in listed] == ["e1"]
        assert seen["fields"] > 10

        # the same answers again: every key list comes from the cache
        monkeypatch.setattr(picker, "get_possible_keys", cached)
        monkeypatch.setitem(moto_server._serializer_keys, "original", counted)
        assert ddb.get_item(TableName="t", Key=key)["Item"] == item
        assert sfn.list_executions(stateMachineArn=machine)["executions"] == listed
        assert seen["worked_out"] == 0
