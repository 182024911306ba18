"""benchmarks/calls.py: the product's AWS calls in a run, counted by operation with the product's CPU inside them.
A botocore client answered by a canned ``before-send`` (no network, no moto); the CPU a call takes is made
measurable by burning thread CPU in that answer, which runs inside the call on the calling thread."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient

from benchmarks.calls import counted
from benchmarks.cpu import DRIVER, PRODUCT, Meter

pytestmark = pytest.mark.unit

BURN = 0.05  # CPU seconds each answered call burns


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body

    def read(self, *_: Any) -> bytes:
        return self.body


def _answer(request: Any, **_: Any) -> AWSResponse:
    end = time.thread_time() + BURN
    while time.thread_time() < end:
        pass
    headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "r"}
    return AWSResponse(request.url, 200, headers, _Raw(b"{}"))


@pytest.fixture
def ddb(fake_aws_env: None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    client.meta.events.register("before-send", _answer)
    return client


def test_a_product_threads_calls_are_counted_by_operation_with_their_cpu(ddb: Any) -> None:
    meter = Meter()
    with counted(meter) as calls:
        with meter.role(PRODUCT):
            ddb.describe_limits()
            ddb.describe_limits()
            ddb.list_tables()
        with meter.role(DRIVER):  # the game server's side: not the product's
            ddb.list_tables()
        ddb.list_tables()  # no role: not the product's either
    assert dict(calls.counts) == {"dynamodb DescribeLimits": 2, "dynamodb ListTables": 1}
    assert calls.total_calls == 3
    assert calls.seconds["dynamodb DescribeLimits"] >= 2 * BURN
    assert calls.seconds["dynamodb ListTables"] >= BURN
    assert BaseClient._make_api_call.__name__ == "_make_api_call"  # put back after the block
    ddb.list_tables()
    assert calls.total_calls == 3


def test_calls_from_product_threads_beside_each_other_are_all_counted(ddb: Any) -> None:
    meter = Meter()

    def work() -> None:
        with meter.role(PRODUCT):
            for _ in range(3):
                ddb.list_tables()

    with counted(meter) as calls:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert calls.counts == {"dynamodb ListTables": 12}
    assert calls.seconds["dynamodb ListTables"] >= 12 * BURN


def test_the_report_line_splits_the_products_cpu_into_calls_and_the_rest(ddb: Any) -> None:
    meter = Meter()
    with counted(meter) as calls, meter.role(PRODUCT):
        ddb.list_tables()
    inside = calls.total_seconds
    line = calls.line("run", product_s=inside + 2.0, floor_s=1.0)
    assert line.startswith("run: 1 AWS calls took")
    assert "dynamodb ListTables 1 (" in line
    assert "outside its AWS calls: 2.00 s, 2.00x the floor's 1.00 s" in line
    assert calls.document()["dynamodb ListTables"]["calls"] == 1


def test_a_full_collection_inside_a_call_is_left_out_of_its_time(ddb: Any) -> None:
    """The meter charges a full collection to the emulator (it walks the whole heap, here moto's state): one
    that runs inside a call is not the call's either."""
    heap = [[i] for i in range(1_000_000)]
    took: list[float] = []

    def collect(**_: Any) -> None:
        start = time.thread_time()
        gc.collect()
        took.append(time.thread_time() - start)

    ddb.meta.events.register("before-sign", collect)
    meter = Meter()
    with counted(meter) as calls, meter.role(PRODUCT):
        ddb.list_tables()
    assert took[0] > 0.02 and len(heap) == 1_000_000
    assert BURN <= calls.seconds["dynamodb ListTables"] < BURN + 0.015


def test_a_call_made_inside_another_is_counted_as_its_own(ddb: Any, fake_aws_env: None) -> None:
    """botocore may make a call inside a call (refreshing credentials while signing, S3 finding a bucket's
    region): both are counted, and the outer call's time leaves the inner one's out."""
    other = boto3.client("sqs", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    other.meta.events.register("before-send", _answer)
    inner: list[int] = []

    def nested(**_: Any) -> None:
        if not inner:
            inner.append(1)
            other.list_queues()

    ddb.meta.events.register("before-sign", nested)
    meter = Meter()
    with counted(meter) as calls, meter.role(PRODUCT):
        ddb.list_tables()
    assert dict(calls.counts) == {"dynamodb ListTables": 1, "sqs ListQueues": 1}
    assert BURN <= calls.seconds["dynamodb ListTables"] < BURN + 0.015
    assert BURN <= calls.seconds["sqs ListQueues"] < BURN + 0.015
