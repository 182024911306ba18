"""lambdas/put_events: the request read as the producer sent it, the per-record answer (PutRecords partial
failures named and retryable, oversize and non-object records refused by name), whole-request refusals.
Kinesis is a real botocore client whose answers are set with botocore's Stubber (AWS's side only)."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from lambdas.put_events import handler as put_events
from orchestration.runtime.sfn import LambdaContext

pytestmark = pytest.mark.unit

STREAM = "mtx-test-transaction-stream"
CONTEXT = LambdaContext("mtx-test-put-events")
SECRET = "203.0.113.250"


def kinesis() -> Any:
    return boto3.client("kinesis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def body(*records: str) -> str:
    return '{"records": [' + ", ".join(records) + "]}"


def test_records_are_cut_out_as_sent_and_keyed_by_transaction_id() -> None:
    first = '{"transactionId": "tx-1",  "a": 1, "a": 2}'  # spacing and a duplicate key kept for the handler
    records = put_events.read_records(body(first, '{"transactionId": "tx-2"}', '{"transactionId": 7}'))
    assert [r.data.decode() for r in records] == [first, '{"transactionId": "tx-2"}', '{"transactionId": 7}']
    keys = [put_events.partition_key(r.value, r.data) for r in records]
    assert keys[:2] == ["tx-1", "tx-2"] and len(keys[2]) == 64  # no usable id: a hash of the data


@pytest.mark.parametrize(
    ("raw", "field", "rule"),
    [
        ("[]", "$", "events.records"),
        ('{"other": []}', "records", "events.records"),
        ('{"records": "x"}', "records", "events.records"),
        ('{"records": []}', "records", "events.records"),
        ('{"records": [{}], "records": [{}]}', "records", "json.duplicate_key"),
        ('{"records": [{}]} trailing', "$", "json.malformed"),
        ('{"records": [{}', "$", "json.malformed"),
        ('{"records" [{}]}', "$", "json.malformed"),
        ('{"records": [{"a": tru}]}', "$", "json.malformed"),
        ('{"records": [' + "[" * 50_000 + "]" * 50_000 + "]}", "$", "json.too_deep"),
        (body(*["{}"] * 501), "records", "events.too_many_records"),
    ],
)
def test_a_request_that_is_not_1_to_500_records_is_refused_whole(raw: str, field: str, rule: str) -> None:
    with pytest.raises(put_events.BadRequest) as caught:
        put_events.read_records(raw)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    answer = put_events.handler({"body": raw}, CONTEXT)
    assert answer["statusCode"] == 400
    error = json.loads(answer["body"])
    assert error["fields"][0]["rule"] == rule
    assert error["error"] == ("TooManyRecords" if rule == "events.too_many_records" else "InvalidRequest")


def test_exactly_500_records_are_one_put() -> None:
    assert len(put_events.read_records(body(*["{}"] * 500))) == 500


def test_each_record_answered_refused_failed_or_accepted_and_no_value_echoed() -> None:
    big = json.dumps({"transactionId": "tx-big", "client_ip": SECRET, "pad": "p" * 9000})
    raw = body('{"transactionId": "tx-1"}', big, '"just text"', '{"transactionId": "tx-2"}', "null")
    records = put_events.read_records(raw)
    client = kinesis()
    with Stubber(client) as stub:
        stub.add_response(
            "put_records",
            {"FailedRecordCount": 1, "Records": [
                {"SequenceNumber": "100", "ShardId": "shardId-000000000001"},
                {"ErrorCode": "ProvisionedThroughputExceededException",
                 "ErrorMessage": "Rate exceeded for shard 1 in stream x under account 123456789012."},
            ]},
            {"StreamName": STREAM, "Records": [
                {"Data": b'{"transactionId": "tx-1"}', "PartitionKey": "tx-1"},
                {"Data": b'{"transactionId": "tx-2"}', "PartitionKey": "tx-2"},
            ]},
        )  # fmt: skip
        answer = put_events.put_events(records, client, STREAM)
        stub.assert_no_pending_responses()
    assert (answer["accepted"], answer["refused"], answer["failed"]) == (1, 3, 1)
    statuses = [(r["index"], r["status"], r.get("rule") or r.get("error")) for r in answer["records"]]
    assert statuses == [
        (0, "accepted", None), (1, "refused", "body.too_large"), (2, "refused", "json.not_object"),
        (3, "failed", "ProvisionedThroughputExceededException"), (4, "refused", "json.not_object"),
    ]  # fmt: skip
    text = json.dumps(answer)
    assert SECRET not in text and "123456789012" not in text and "just text" not in text


def test_a_put_that_fails_whole_is_503_and_a_base64_body_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    client = kinesis()
    monkeypatch.setattr(put_events, "client", lambda service, settings=None: client)
    event = {"body": base64.b64encode(body('{"transactionId": "tx-1"}').encode()).decode(), "isBase64Encoded": True}
    with Stubber(client) as stub:
        stub.add_client_error("put_records", "ResourceNotFoundException", http_status_code=400,
                              expected_params={"StreamName": ANY, "Records": ANY})  # fmt: skip
        answer = put_events.handler(event, CONTEXT)
    assert answer["statusCode"] == 503 and json.loads(answer["body"])["error"] == "ServiceUnavailable"
    not_utf8 = {"body": base64.b64encode(b'{"records": ["\xff"]}').decode(), "isBase64Encoded": True}
    assert json.loads(put_events.handler(not_utf8, CONTEXT)["body"])["fields"][0]["rule"] == "body.not_utf8"
