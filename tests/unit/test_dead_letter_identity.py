"""A dead letter sent twice is kept once (issue 18): the Lambdas give each letter an identity on the FIFO
dead-letter queue, so a retry after a send whose answer was lost (SendMessageBatch done, the connection
dropped) does not leave a second letter; two identical bad records are still two letters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.common import aws
from lambdas.common.dead_letters import dead_letter_message, fifo_fields, letter_identity, send_batch
from orchestration.runtime.moto_server import patch_moto_sqs_send
from orchestration.settings import reset_settings_cache

pytestmark = pytest.mark.unit


@pytest.fixture
def fifo_queue(fake_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("MTX_REGION", "us-east-1")
    patch_moto_sqs_send()
    reset_settings_cache()
    aws.reset_clients()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true",
                      "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}  # fmt: skip
        yield sqs, sqs.create_queue(QueueName="mtx-test-dead-letter.fifo", Attributes=attributes)["QueueUrl"]
    aws.reset_clients()
    reset_settings_cache()


def letters(received_at: str) -> list[dict[str, Any]]:
    bad = '{"transactionId": "t-1", "amount": "x"}'
    return [
        dead_letter_message(
            bad, "t-1", "InvalidTransaction", "amount: not a number [amount.type]", received_at, "ProcessChunk"
        ),
        dead_letter_message(
            bad, "t-1", "InvalidTransaction", "amount: not a number [amount.type]", received_at, "ProcessChunk"
        ),
        dead_letter_message("{", None, "InvalidTransaction", "body: not JSON [body.json]", received_at, "ProcessChunk"),
    ] + [
        dead_letter_message(
            {"transactionId": f"t-{i}"}, f"t-{i}", "ItemNotFound", "no such item", received_at, "ProcessChunk"
        )
        for i in range(10, 25)
    ]


def queued(sqs: Any, url: str) -> Counter[str]:
    found: Counter[str] = Counter()
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", []):
        found.update(m["Body"] for m in batch)
    return found


def test_a_retried_send_keeps_each_letter_once_and_identical_records_twice(fifo_queue: tuple[Any, str]) -> None:
    sqs, url = fifo_queue
    assert send_batch(url, letters("2026-12-04T10:00:00+00:00"), "run-1/chunk-3") == 18
    # the retry of the same chunk: the same letters stamped at another time, the same scope
    assert send_batch(url, letters("2026-12-04T10:00:07+00:00"), "run-1/chunk-3") == 18
    got = queued(sqs, url)
    assert sum(got.values()) == 18, "each letter once, the two identical bad records as two letters"
    assert max(got.values()) == 2  # the identical pair (same body, both kept)


def test_another_scope_is_another_letter(fifo_queue: tuple[Any, str]) -> None:
    sqs, url = fifo_queue
    send_batch(url, letters("2026-12-04T10:00:00+00:00")[:3], "run-1/chunk-3")
    send_batch(url, letters("2026-12-04T10:00:00+00:00")[:3], "run-2/chunk-3")  # the same file, dropped again
    assert sum(queued(sqs, url).values()) == 6


def test_identity_ignores_only_the_receipt_time() -> None:
    a, b = letters("2026-12-04T10:00:00+00:00")[2], letters("2026-12-05T00:00:00+00:00")[2]
    assert letter_identity("s", a, Counter()) == letter_identity("s", b, Counter())
    other = {**a, "failed_state": "DeadLetterChunk"}
    assert letter_identity("s", a, Counter()) != letter_identity("s", other, Counter())
    assert fifo_fields("https://sqs.example/q", "x") == {}  # a standard queue takes no FIFO fields
    assert len(fifo_fields("https://sqs.example/q.fifo", letter_identity("s", a, Counter()))["MessageGroupId"]) <= 128


def test_listing_reads_every_letter_once_and_leaves_them_in_the_queue(fifo_queue: tuple[Any, str]) -> None:
    """`mtx dlq list` (and the soak's audit) reads the whole queue: each letter once, then visible again."""
    from orchestration.cli.dlq import list_dead_letters

    _, url = fifo_queue
    send_batch(url, letters("2026-12-04T10:00:00+00:00"), "run-9/chunk-1")

    def clients(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1")

    first = list_dead_letters(clients, url)
    assert len(first) == 18 and len({d.message_id for d in first}) == 18
    again = list_dead_letters(clients, url)  # peeked, not taken
    assert {d.message_id for d in again} == {d.message_id for d in first}


def test_queue_url_is_asked_once_per_client_and_again_for_a_new_one(
    fifo_queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GetQueueUrl once per warm container, not per invocation; a new client (``reset_clients``: a new stack,
    another endpoint or region) asks again, so a cached URL never points at a queue of another stack."""
    from lambdas.common.dead_letters import queue_url

    _, url = fifo_queue
    name = url.rsplit("/", 1)[-1]
    asked: list[str] = []
    aws.client("sqs").meta.events.register("before-call.sqs.GetQueueUrl", lambda **kw: asked.append("east"))
    assert [queue_url(name) for _ in range(3)] == [url] * 3
    assert asked == ["east"]

    other = boto3.client("sqs", region_name="eu-west-1").create_queue(
        QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    assert other != url
    monkeypatch.setenv("MTX_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    reset_settings_cache()
    aws.reset_clients()
    assert queue_url(name) == other
