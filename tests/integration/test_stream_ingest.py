"""The streaming entrance end to end: records put into the Kinesis stream (moto) the way a game server puts
them, read by the local event source mapping (orchestration/runtime/stream_poller.py), stored by
lambdas/ingest_stream in the real PostgreSQL and S3, invalid ones dead-lettered; then the same batch
delivered again, and a batch whose first attempt meets the database down. Each transaction is stored once,
its analytics copy written once, each invalid record dead-lettered once."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from lambdas.ingest_stream import handler as ingest_stream
from orchestration.cli import dlq
from orchestration.cli.connect import post_lines
from orchestration.cli.stream_replay import replay
from orchestration.runtime import ingest
from orchestration.runtime.faults import FaultInjector, FaultPlan
from orchestration.runtime.resources import stream_name
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate
from tests.helpers import objects_written_since, s3_clock

pytestmark = pytest.mark.integration


def wait_for(what: str, done: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def put(stack: LocalStack, lines: list[str]) -> None:
    """Into the stream, and wait until the mapping has settled every record put."""
    poller = stack.stream_poller
    assert poller is not None
    before = poller.records_done
    done = replay(stack.client("kinesis"), stream_name(stack.require_settings()), [line.encode() for line in lines])
    assert (done.sent, done.failed_puts) == (len(lines), 0)
    wait_for("the stream's records to be settled", lambda: poller.records_done - before >= len(lines))


def stored(stack: LocalStack, ids: set[str]) -> dict[str, str]:
    """transaction id -> the owner (execution_id) of each stored row among ``ids``."""
    with psycopg.connect(stack.dsn("compliance")) as conn:
        rows = conn.execute(
            "select transaction_id, execution_id from compliance.transactions where transaction_id = any(%s)",
            (list(ids),),
        ).fetchall()
    assert len(rows) == len({r[0] for r in rows})
    return {r[0]: r[1] for r in rows}


def analytics_copies(stack: LocalStack, ids: set[str], since: dt.datetime) -> Counter[str]:
    """How many PII-free analytics copies each of ``ids`` has in the stream's objects written since ``since`` (the
    test's start: every copy of its records, none of the earlier tests' objects)."""
    bucket = stack.require_settings().analytics_bucket
    found: Counter[str] = Counter()
    s3 = stack.client("s3")
    for _key, body in objects_written_since(s3, bucket, since, prefix="transactions/", key_contains="/batch-stream-"):
        for line in body.splitlines():
            record = json.loads(line)
            if record["transactionId"] in ids:
                assert "client_ip" not in record and "card_last4" not in record["payment_details"]
                found[record["transactionId"]] += 1
    return found


def mixed(count: int, seed: int) -> tuple[list[str], set[str], int]:
    records = list(generate(count, seed=seed, invalid_share=0.1, duplicate_share=0.0))
    valid = {r.transaction_id for r in records if r.kind == "valid"}
    return [r.line for r in records], valid, len(records) - len(valid)


def test_valid_records_are_stored_once_and_invalid_ones_dead_lettered(clean_queues: LocalStack) -> None:
    stack = clean_queues
    since = s3_clock()
    lines, valid, invalid = mixed(300, seed=61)
    put(stack, lines)
    owners = stored(stack, valid)
    assert set(owners) == valid
    assert all(owner.startswith("stream:shardId-") for owner in owners.values())
    assert analytics_copies(stack, valid, since) == Counter(dict.fromkeys(valid, 1))
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert len(letters) == invalid > 0
    assert all(d.reason and d.body["failed_state"] == "IngestStream" for d in letters)
    assert not {d.transaction_id for d in letters} & valid


def _event(lines: list[str], first_sequence: int) -> dict[str, Any]:
    now = time.time()
    return {"Records": [
        {"kinesis": {"partitionKey": "k", "sequenceNumber": str(first_sequence + i), "approximateArrivalTimestamp": now,
                     "data": base64.b64encode(line.encode()).decode()},
         "eventSource": "aws:kinesis", "eventID": f"shardId-000000000099:{first_sequence + i}"}
        for i, line in enumerate(lines)
    ]}  # fmt: skip


def test_a_batch_delivered_again_stores_and_dead_letters_nothing_twice(clean_queues: LocalStack) -> None:
    """The mapping delivers a batch again after an attempt whose answer was lost (a timeout after the work):
    the same records from the same first sequence number. The second delivery owns what the first stored."""
    stack = clean_queues
    since = s3_clock()
    lines, valid, invalid = mixed(120, seed=62)
    event = _event(lines, 10**20)
    first = ingest_stream.ingest(ingest_stream.StreamBatch.of(event))
    again = ingest_stream.ingest(ingest_stream.StreamBatch.of(event))
    assert (first.failures, again.failures) == ([], [])
    assert first.stored == again.stored == len(valid)  # the retry's rows are its own: written again, same keys
    assert set(stored(stack, valid)) == valid
    assert analytics_copies(stack, valid, since) == Counter(dict.fromkeys(valid, 1))
    assert len(dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)) == invalid
    # the same records in another batch (a producer sending them again): duplicates, nothing stored
    other = ingest_stream.ingest(ingest_stream.StreamBatch.of(_event(lines, 2 * 10**20)))
    assert (other.stored, other.duplicates) == (0, len(valid))
    assert analytics_copies(stack, valid, since) == Counter(dict.fromkeys(valid, 1))


def test_the_database_down_on_the_first_attempt_ends_stored_exactly_once(clean_queues: LocalStack) -> None:
    stack = clean_queues
    since = s3_clock()
    poller = stack.stream_poller
    assert poller is not None
    lines, valid, invalid = mixed(200, seed=63)
    reported, before = poller.partial_failures, poller.records_done
    stack.pg.kill()
    try:
        done = replay(stack.client("kinesis"), stream_name(stack.require_settings()), [x.encode() for x in lines])
        assert done.sent == len(lines)
        wait_for("a batch reported failed", lambda: poller.partial_failures > reported, timeout=60)
    finally:
        stack.pg.restart()
    wait_for("the stream's records to be settled", lambda: poller.records_done - before >= len(lines))
    assert poller.given_up == []
    assert set(stored(stack, valid)) == valid
    assert analytics_copies(stack, valid, since) == Counter(dict.fromkeys(valid, 1))
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert len(letters) == invalid
    assert Counter(d.transaction_id for d in letters if d.transaction_id).most_common(1)[0][1] == 1


def test_s3_failing_after_the_rows_are_committed_retries_the_batch_whole(clean_queues: LocalStack) -> None:
    """The rows are committed, then every S3 call fails (the analytics copies cannot be written): the handler
    reports the whole batch rather than raising (a bisected half would not own the committed rows), the
    mapping retries it, the same owner writes the copies; nothing is stored twice, nothing is lost."""
    stack = clean_queues
    since = s3_clock()
    poller = stack.stream_poller
    assert poller is not None
    lines, valid, invalid = mixed(150, seed=64)
    reported, before, bisected = poller.partial_failures, poller.records_done, poller.function_errors
    injector = FaultInjector(FaultPlan(s3=1.0, dynamodb=0.0, sqs_send=0.0, lambda_timeout=0.0), enabled=True)
    stack.moto.inject(injector)
    try:
        done = replay(stack.client("kinesis"), stream_name(stack.require_settings()), [x.encode() for x in lines])
        assert done.sent == len(lines)
        wait_for("a batch reported failed", lambda: poller.partial_failures > reported, timeout=60)
        assert set(stored(stack, valid))  # committed before the copies failed
    finally:
        stack.moto.inject(None)
    wait_for("the stream's records to be settled", lambda: poller.records_done - before >= len(lines))
    assert injector.injected and poller.function_errors == bisected  # reported, never raised
    assert set(stored(stack, valid)) == valid
    assert analytics_copies(stack, valid, since) == Counter(dict.fromkeys(valid, 1))
    assert len(dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)) == invalid


def test_a_transaction_stored_by_the_stream_and_sent_again_through_the_api_is_a_duplicate(
    clean_queues: LocalStack,
) -> None:
    """The API path recognises a row a stream batch owns (AlreadyStored -> DUPLICATE), as it does a file
    run's: no second storing, no second count."""
    stack = clean_queues
    records = list(generate(12, seed=67, invalid_share=0.0, duplicate_share=0.0))
    ids = {r.transaction_id for r in records}
    put(stack, [r.line for r in records])
    assert set(stored(stack, ids)) == ids
    assert stack.api is not None
    results = post_lines(stack.api.url, [r.line for r in records[:3]], concurrency=1, api_key=stack.producer_key)
    started = [r["body"]["executionArn"] for r in results if r["status"] == 202]
    assert len(started) == 3
    outcomes = ingest.wait_for(stack.client, started, timeout=300)
    assert (len(outcomes.duplicates), outcomes.stored, outcomes.failed) == (3, [], [])
    assert all(owner.startswith("stream:") for owner in stored(stack, ids).values())
