"""Batch ingest: a file dropped under incoming/ of the raw bucket, end to end.

The file goes in the way a user drops it (S3 put -> the real S3 "Object Created"
event -> the EventBridge rule -> the batch state machine); the run record, the
compliance store, the S3 analytics objects and the dead-letter queue are read back.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from contracts import MAX_TRANSACTION_BYTES
from lambdas.common import db
from orchestration import asl_policy
from orchestration.cli import batch, dlq
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate

pytestmark = pytest.mark.integration


def drop(stack: LocalStack, body: bytes, name: str) -> dict[str, Any]:
    s = stack.require_settings()
    known = batch.run_ids(stack.client, s, f"incoming/{name}")
    key = batch.upload_bytes(stack.client, s, body, name)
    return batch.wait_for_run(stack.client, s, key, timeout=600, known=known)


def ndjson(records: list[Any]) -> bytes:
    return ("\n".join(r.line for r in records) + "\n").encode()


def stored_ids(stack: LocalStack, ids: set[str]) -> list[str]:
    with psycopg.connect(stack.dsn("compliance")) as conn:
        rows = conn.execute(
            "select transaction_id from compliance.transactions where transaction_id = any(%s)", (list(ids),)
        ).fetchall()
    return [r[0] for r in rows]


def analytics_ids(stack: LocalStack, run_id: str) -> list[str]:
    s3 = stack.client("s3")
    bucket = stack.require_settings().analytics_bucket
    ids = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="transactions/"):
        for obj in page.get("Contents", []):
            if f"batch-{run_id}-" in obj["Key"]:
                for line in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().splitlines():
                    rec = json.loads(line)
                    assert "client_ip" not in rec and "card_last4" not in rec["payment_details"]
                    ids.append(rec["transactionId"])
    return ids


def test_file_with_valid_invalid_and_duplicate_records(clean_queues: LocalStack) -> None:
    stack = clean_queues
    records = list(generate(3000, seed=101, invalid_share=0.06, duplicate_share=0.02))
    kinds = Counter(r.kind for r in records)
    run = drop(stack, ndjson(records), "mixed.ndjson")
    valid = {r.transaction_id for r in records if r.kind == "valid"}
    rejected = len(records) - kinds["valid"] - kinds["duplicate"]
    assert run["status"] == "COMPLETED"
    assert (run["records"], run["stored"], run["duplicates"], run["dead_lettered"]) == (
        len(records), len(valid), kinds["duplicate"], rejected)  # fmt: skip
    assert run["stored"] + run["duplicates"] + run["dead_lettered"] == run["records"]
    got = stored_ids(stack, valid)
    assert sorted(got) == sorted(valid)  # each once
    assert sorted(analytics_ids(stack, run["run_id"])) == sorted(valid)
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert len(letters) == rejected and all(d.reason for d in letters)
    assert not ({d.transaction_id for d in letters} & valid)


def test_same_file_twice_and_overlapping_files_store_each_transaction_once(clean_queues: LocalStack) -> None:
    stack = clean_queues
    records = list(generate(1200, seed=202, invalid_share=0.0, duplicate_share=0.0))
    first, second = records[:800], records[400:]  # 400 in common
    run1 = drop(stack, ndjson(first), "a.ndjson")
    run2 = drop(stack, ndjson(first), "a.ndjson")  # the same file dropped again
    run3 = drop(stack, ndjson(second), "b.ndjson")
    assert (run1["stored"], run1["duplicates"]) == (800, 0)
    assert (run2["stored"], run2["duplicates"]) == (0, 800)
    assert (run3["stored"], run3["duplicates"]) == (400, 400)
    ids = {r.transaction_id for r in records}
    got = stored_ids(stack, ids)
    assert len(got) == len(set(got)) == 1200
    everywhere = (
        analytics_ids(stack, run1["run_id"])
        + analytics_ids(stack, run2["run_id"])
        + analytics_ids(stack, run3["run_id"])
    )
    assert sorted(everywhere) == sorted(ids)  # one analytics copy each


def test_json_array_and_gzip_are_accepted(clean_queues: LocalStack) -> None:
    stack = clean_queues
    records = list(generate(300, seed=303, invalid_share=0.0, duplicate_share=0.0))
    array = ("[\n" + ",\n".join(r.line for r in records[:150]) + "\n]").encode()
    run_a = drop(stack, array, "export.json")
    run_g = drop(stack, gzip.compress(ndjson(records[150:])), "replay.ndjson.gz")
    assert (run_a["status"], run_a["stored"]) == ("COMPLETED", 150)
    assert (run_g["status"], run_g["stored"]) == ("COMPLETED", 150)


def test_a_file_that_is_not_json_fails_its_run_and_is_moved_aside(clean_queues: LocalStack) -> None:
    stack = clean_queues
    s = stack.require_settings()
    run = drop(stack, b"\x00\x01binary export, not json", "broken.bin")
    assert run["status"] == "FAILED" and run["error_name"] == "NotJsonFile"
    assert "not JSON" in run["error_cause"]
    s3 = stack.client("s3")
    moved = s3.list_objects_v2(Bucket=s.raw_bucket, Prefix=f"rejected/{run['run_id']}/").get("Contents", [])
    assert [o["Key"] for o in moved] == [f"rejected/{run['run_id']}/broken.bin"]
    assert s3.list_objects_v2(Bucket=s.raw_bucket, Prefix="incoming/broken.bin").get("KeyCount", 0) == 0


def test_database_outage_dead_letters_the_chunk_and_redrive_stores_it(clean_queues: LocalStack) -> None:
    stack = clean_queues
    began = time.time()
    records = list(generate(200, seed=404, invalid_share=0.05, duplicate_share=0.0))
    valid = {r.transaction_id for r in records if r.kind == "valid"}
    # Idle pooled connections from earlier work, as in a full test run: they die with the server, and
    # the redrive below must not draw them (it did, once: a valid transaction dead-lettered twice).
    with ExitStack() as hold:
        for _ in range(db.MAX_IDLE):
            hold.enter_context(db.connection(stack.require_settings().compliance_writer_secret_id))
    stack.pg.kill()
    try:
        run = drop(stack, ndjson(records), "during-outage.ndjson")
    finally:
        stack.pg.restart()
    assert run["status"] == "FAILED"  # never left PENDING
    assert run["failed"] == 1 and run["stored"] == 0 and run["dead_lettered"] == len(records)
    history = stack.client("stepfunctions").get_execution_history(executionArn=run["execution_id"], maxResults=1000)
    attempts = [e for e in history["events"] if e["type"] == "TaskScheduled"
                and "process-chunk" in e["taskScheduledEventDetails"]["parameters"]]  # fmt: skip
    # first try + every retry of the policy's database budget (orchestration/asl_policy.py)
    assert len(attempts) == 1 + asl_policy.DATABASE.max_attempts
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert Counter(d.error for d in letters)["DatabaseUnavailable"] == len(valid)
    report = dlq.redrive(stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"))
    assert report.stored == len(valid)
    assert sorted(stored_ids(stack, valid)) == sorted(valid)
    # only the contract failures remain, dead-lettered again by the per-transaction workflow
    remaining = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    ours = {r.transaction_id for r in records}
    assert len(remaining) == len(records) - len(valid), [  # where each came from, should the count be off
        (d.error, d.failed_state, d.transaction_id in ours or d.transaction_id is None, round(d.sent_at - began, 1),
         d.receive_count) for d in remaining
    ]  # fmt: skip
    assert {d.error for d in remaining} <= {"InvalidTransaction", "ItemNotFound", "ItemNotPurchasable", "PriceMismatch"}


def test_escapes_in_the_raw_json_survive_copy(clean_queues: LocalStack) -> None:
    """COPY's text format: backslashes, tabs and quotes in a record reach the compliance store unchanged.

    A name may not hold a tab (text.control, docs/acceptance-rules.md): the tabs here are JSON whitespace
    between tokens, in the raw text COPY carries, and a name keeps its escaped quote and backslash."""
    stack = clean_queues
    [rec] = list(generate(1, seed=505, invalid_share=0.0, duplicate_share=0.0))
    tx = json.loads(rec.line)
    tx["item_purchased"]["item_name"] = 'Wings "deluxe" \\ edition — ünïcode'
    line = json.dumps(tx, ensure_ascii=False).replace(', "', ',\t"')
    assert "\t" in line
    run = drop(stack, (line + "\n").encode(), "escapes.ndjson")
    assert run["stored"] == 1, run
    with psycopg.connect(stack.dsn("compliance")) as conn:
        raw = conn.execute(
            "select raw from compliance.transactions where transaction_id = %s", (tx["transactionId"],)
        ).fetchone()
    assert raw is not None and raw[0]["item_purchased"]["item_name"] == tx["item_purchased"]["item_name"]


def test_a_record_over_the_size_limit_is_quarantined_alone_and_the_rest_stored(clean_queues: LocalStack) -> None:
    """One 200 KB record among good ones (an unknown field padded with tabs, newlines and backslashes):
    the good ones are stored, the big one is kept whole under rejected/ and dead-lettered with its place
    and the rule, not its content (a dead letter must stay under SQS's 256 KB)."""
    stack = clean_queues
    records = list(generate(40, seed=7, invalid_share=0.0, duplicate_share=0.0))
    big = json.loads(records[0].line) | {"transactionId": "oversize-1", "padding": "\t\n\\ " * 50_000}
    lines = [r.line for r in records[1:21]] + [json.dumps(big)] + [r.line for r in records[21:]]
    run = drop(stack, ("\n".join(lines) + "\n").encode(), "with-a-big-record.ndjson")
    valid = {r.transaction_id for r in records[1:]}
    assert run["status"] == "COMPLETED"
    assert (run["records"], run["stored"], run["dead_lettered"]) == (40, 39, 1)
    assert sorted(stored_ids(stack, valid | {"oversize-1"})) == sorted(valid)
    [letter] = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert letter.error == "InvalidTransaction"
    assert "record 21 of chunk 0" in letter.reason and f"over the {MAX_TRANSACTION_BYTES} bytes" in letter.reason
    assert len(json.dumps(letter.body)) < 2000 and "padding" not in json.dumps(letter.body)
    bucket, key = letter.body["transaction"]["quarantined_at"].removeprefix("s3://").split("/", 1)
    kept = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert json.loads(kept) == big


def test_the_size_limit_counts_bytes_not_characters(clean_queues: LocalStack) -> None:
    """A record of fewer characters than the limit but more bytes (2-byte UTF-8 characters) is over it."""
    stack = clean_queues
    [record] = list(generate(1, seed=11, invalid_share=0.0, duplicate_share=0.0))
    wide = json.loads(record.line) | {"padding": "é" * (MAX_TRANSACTION_BYTES // 2 + 100)}
    line = json.dumps(wide, ensure_ascii=False)
    assert len(line) < MAX_TRANSACTION_BYTES < len(line.encode())
    run = drop(stack, (line + "\n").encode(), "wide-record.ndjson")
    assert (run["records"], run["stored"], run["dead_lettered"]) == (1, 0, 1)
    [letter] = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert "record 1 of chunk 0" in letter.reason and "padding" not in json.dumps(letter.body)
