"""moto's Kinesis shard made O(1) per record (orchestration/runtime/moto_kinesis.py): the same records, order,
sequence numbers and iterators as moto's own code, and neither PutRecords nor GetRecords walks the shard."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestration.runtime.moto_kinesis import patch_moto_kinesis_shards

pytestmark = pytest.mark.unit


class Walked(OrderedDict):  # type: ignore[type-arg]
    """A shard's records that count every walk over them (keys, values, items, iteration from the start)."""

    walks = 0

    def __iter__(self) -> Any:
        Walked.walks += 1
        return super().__iter__()

    def keys(self) -> Any:
        Walked.walks += 1
        return super().keys()

    def items(self) -> Any:
        Walked.walks += 1
        return super().items()

    def values(self) -> Any:
        Walked.walks += 1
        return super().values()


@pytest.fixture
def kinesis() -> Any:
    patch_moto_kinesis_shards()
    with mock_aws():
        client = boto3.client("kinesis", region_name="eu-west-1")
        client.create_stream(StreamName="s", ShardCount=1)
        yield client


def _put(kinesis: Any, first: int, count: int) -> list[str]:
    answer = kinesis.put_records(
        StreamName="s", Records=[{"Data": str(i).encode(), "PartitionKey": "k"} for i in range(first, first + count)]
    )
    return [r["SequenceNumber"] for r in answer["Records"]]


def _iterator(kinesis: Any, **where: Any) -> str:
    shard = kinesis.list_shards(StreamName="s")["Shards"][0]["ShardId"]
    return str(kinesis.get_shard_iterator(StreamName="s", ShardId=shard, **where)["ShardIterator"])


def test_records_come_back_in_order_with_their_sequence_numbers_in_pages(kinesis: Any) -> None:
    sequence = _put(kinesis, 0, 250) + _put(kinesis, 250, 250)
    assert [int(s) for s in sequence] == list(range(1, 501))
    iterator, seen = _iterator(kinesis, ShardIteratorType="TRIM_HORIZON"), []
    while True:
        page = kinesis.get_records(ShardIterator=iterator, Limit=120)
        seen += page["Records"]
        iterator = page["NextShardIterator"]
        if not page["Records"]:
            break
        assert len(page["Records"]) <= 120
    assert [r["Data"] for r in seen] == [str(i).encode() for i in range(500)]
    assert [r["SequenceNumber"] for r in seen] == sequence
    assert page["MillisBehindLatest"] == 0
    after = _iterator(kinesis, ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=sequence[449])
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=after)["Records"]] == [
        str(i).encode() for i in range(450, 500)
    ]
    at = _iterator(kinesis, ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=sequence[10])
    assert kinesis.get_records(ShardIterator=at, Limit=1)["Records"][0]["Data"] == b"10"
    latest = _iterator(kinesis, ShardIteratorType="LATEST")
    assert kinesis.get_records(ShardIterator=latest)["Records"] == []
    _put(kinesis, 500, 3)
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=latest)["Records"]] == [b"500", b"501", b"502"]
    shard = kinesis.list_shards(StreamName="s")["Shards"][0]
    assert shard["SequenceNumberRange"]["StartingSequenceNumber"] == "1"


def test_putting_and_reading_the_tail_never_walks_the_shard(kinesis: Any) -> None:
    from moto.kinesis.models import kinesis_backends

    _put(kinesis, 0, 100)
    tail = _iterator(kinesis, ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber="90")
    stream = kinesis_backends["123456789012"]["eu-west-1"].streams["s"]
    (shard,) = stream.shards.values()
    shard.records = Walked(shard.records)
    Walked.walks = 0
    _put(kinesis, 100, 400)
    page = kinesis.get_records(ShardIterator=tail, Limit=50)
    assert [r["Data"] for r in page["Records"]] == [str(i).encode() for i in range(90, 140)]
    assert kinesis.get_records(ShardIterator=page["NextShardIterator"], Limit=1000)["Records"][-1]["Data"] == b"499"
    assert Walked.walks == 0
