"""POST /events through the real local stack: the local API (the producers' credential), lambdas/put_events,
moto's Kinesis, the local event source mapping (orchestration/runtime/stream_poller.py), lambdas/ingest_stream,
the real PostgreSQL and S3. Valid records end stored exactly once, contract-invalid ones dead-lettered once
each with its reason, oversize and non-object records refused by name at the door (never echoed), a request
over 500 records refused whole; the same request sent again stores nothing twice."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from orchestration.cli import dlq
from orchestration.runtime import auth
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate
from tests.helpers import s3_clock, seed_tx
from tests.integration.analytics_api.api_helpers import assert_documented, request
from tests.integration.test_stream_ingest import analytics_copies, stored, wait_for

pytestmark = pytest.mark.integration

#: A value that must never come back in an answer (a client IP in a refused record).
SECRET_IP = "198.51.100.77"


def post_events(stack: LocalStack, records: list[Any] | bytes, role: str | None = auth.PRODUCER) -> tuple[int, Any]:
    body = records if isinstance(records, bytes) else json.dumps({"records": records}).encode()
    return request(stack, "POST", "/events", body, {"Content-Type": "application/json"}, role=role)


def settle(stack: LocalStack, before: int, count: int) -> None:
    poller = stack.stream_poller
    assert poller is not None
    wait_for("the stream's records to be settled", lambda: poller.records_done - before >= count)


def test_valid_stored_once_invalid_dead_lettered_oversize_and_non_objects_refused(clean_queues: LocalStack) -> None:
    stack = clean_queues
    since = s3_clock()
    poller = stack.stream_poller
    assert poller is not None
    # every kind but a line that is not JSON (it cannot be an element of the request's array)
    generated = [
        r for r in generate(60, seed=71, invalid_share=0.15, duplicate_share=0.0) if r.kind != "malformed_json"
    ]
    valid = {r.transaction_id for r in generated if r.kind == "valid"}
    invalid = len(generated) - len(valid)
    assert valid and invalid
    oversize = seed_tx(client_ip=SECRET_IP, game="x" * 9000)  # over 8 KiB
    records: list[Any] = [json.loads(r.line) for r in generated]
    records[5:5] = [oversize, 42, [seed_tx()], "a string"]
    before = poller.records_done

    status, body = post_events(stack, records)
    assert status == 200, body
    assert_documented("POST", "/events", 200, body)
    results = body["records"]
    assert [r["index"] for r in results] == list(range(len(records)))
    refused = {r["index"]: r for r in results if r["status"] == "refused"}
    assert {i: r["rule"] for i, r in refused.items()} == {
        5: "body.too_large", 6: "json.not_object", 7: "json.not_object", 8: "json.not_object",
    }  # fmt: skip
    assert all(r["reason"] for r in refused.values())
    assert SECRET_IP not in json.dumps(body) and "xxxx" not in json.dumps(body)  # never a value
    assert (body["accepted"], body["refused"], body["failed"]) == (len(generated), 4, 0)
    assert all(
        r["shardId"].startswith("shardId-") and r["sequenceNumber"] for r in results if r["status"] == "accepted"
    )

    settle(stack, before, len(generated))
    owners = stored(stack, valid)
    assert set(owners) == valid and all(o.startswith("stream:shardId-") for o in owners.values())
    assert analytics_copies(stack, valid, since) == Counter(dict.fromkeys(valid, 1))
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert len(letters) == invalid
    assert all(d.reason and d.body["failed_state"] == "IngestStream" for d in letters)
    assert not {d.transaction_id for d in letters} & valid
    assert Counter(d.transaction_id for d in letters if d.transaction_id).most_common(1)[0][1] == 1
    assert oversize["transactionId"] not in stored(stack, {oversize["transactionId"]})  # refused: never sent

    # the same request again (a producer retrying after a lost answer): accepted, nothing stored twice
    before = poller.records_done
    status, again = post_events(stack, records)
    assert (status, again["accepted"]) == (200, len(generated))
    settle(stack, before, len(generated))
    assert set(stored(stack, valid)) == valid
    assert analytics_copies(stack, valid, since) == Counter(dict.fromkeys(valid, 1))


def test_each_record_goes_in_as_sent_with_its_transaction_id_as_partition_key(stack: LocalStack) -> None:
    """Two versions of one transaction land on the same shard, in order; the bytes are the producer's."""
    tx = seed_tx()
    first = json.dumps(tx, indent=1)  # unusual spacing: still these bytes in the stream
    status, body = post_events(stack, f'{{"records": [{first}, {json.dumps(tx)}]}}'.encode())
    assert status == 200 and body["accepted"] == 2, body
    a, b = body["records"]
    assert a["shardId"] == b["shardId"] and int(a["sequenceNumber"]) < int(b["sequenceNumber"])
    kinesis = stack.client("kinesis")
    iterator = kinesis.get_shard_iterator(
        StreamName=stack.require_settings().transaction_stream_name, ShardId=a["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=a["sequenceNumber"],
    )["ShardIterator"]  # fmt: skip
    got = kinesis.get_records(ShardIterator=iterator, Limit=2)["Records"]
    assert [r["Data"].decode() for r in got] == [first, json.dumps(tx)]
    assert {r["PartitionKey"] for r in got} == {tx["transactionId"]}


def test_a_request_over_500_records_or_not_records_is_refused_whole(stack: LocalStack) -> None:
    poller = stack.stream_poller
    assert poller is not None
    many = [seed_tx() for _ in range(501)]
    status, body = post_events(stack, many)
    assert (status, body["error"]) == (400, "TooManyRecords"), body
    assert body["fields"] == [{"field": "records", "rule": "events.too_many_records", "reason": body["message"]}]
    assert_documented("POST", "/events", 400, body)
    assert stored(stack, {tx["transactionId"] for tx in many}) == {}
    for raw, rule in ((b"[]", "events.records"), (b'{"records": {}}', "events.records"), (b'{"records": []}',
                      "events.records"), (b'{"records": [1', "json.malformed")):  # fmt: skip
        status, body = post_events(stack, raw)
        assert (status, body["fields"][0]["rule"]) == (400, rule), (raw, body)
        assert_documented("POST", "/events", 400, body)


def test_post_events_needs_a_producer_credential(stack: LocalStack) -> None:
    tx = seed_tx()
    for role, expected in ((None, 401), (auth.ANALYST, 403)):
        status, body = post_events(stack, [tx], role=role)
        assert status == expected, body
        assert_documented("POST", "/events", status, body)
    status, body = request(stack, "POST", "/events", json.dumps({"records": [tx]}).encode(),
                           {auth.API_KEY_HEADER: "mtxp_not-a-key"}, role=None)  # fmt: skip
    assert (status, body["error"]) == (401, "Unauthorized")
    assert stored(stack, {tx["transactionId"]}) == {}
