"""Status updates with versions on the bulk entrances (docs/lifecycle.md), end to end: files dropped under
incoming/ (S3 -> EventBridge -> the batch state machine -> ProcessChunk) and records put into the Kinesis stream
(the local event source mapping -> IngestStream), stored in the real PostgreSQL, the analytics lines read back
from S3 and the dead letters from SQS.

A chunk or stream batch holding several statuses of one transaction stores them as its versions in lifecycle
order; a later file or batch moves a transaction stored earlier (by a file, the stream or the API) one version
on; a re-sent or older status writes nothing; an illegal move or a change to an immutable field is
dead-lettered alone, with its rule, and the rest stored; a chunk or batch run again after it committed stores
nothing twice (counted in versions and analytics lines)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from contracts.lifecycle import VERSION_FIELDS
from lambdas.ingest_stream import handler as ingest_stream
from lambdas.process_chunk import handler as process_chunk
from orchestration.cli import dlq
from orchestration.cli.connect import post_lines
from orchestration.runtime import ingest
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate
from tests.integration.test_batch_ingest import drop
from tests.integration.test_stream_ingest import put

pytestmark = pytest.mark.integration

Version = tuple[int, str, str | None, str]  # version, status, previous status, owner (execution_id)


def transactions(count: int, seed: int) -> list[dict[str, Any]]:
    return [json.loads(r.line) for r in generate(count, seed=seed, invalid_share=0.0, duplicate_share=0.0)]


def message(tx: dict[str, Any], status: str, **changes: Any) -> str:
    """One message of ``tx``: its record with ``status`` (and top-level ``changes``)."""
    record = json.loads(json.dumps(tx)) | changes
    record["payment_details"]["transaction_status"] = status
    return json.dumps(record)


def ndjson(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def history(stack: LocalStack, *txs: dict[str, Any]) -> dict[str, list[Version]]:
    """transaction id -> its versions in compliance.transaction_versions, oldest first."""
    ids = [tx["transactionId"] for tx in txs]
    found: dict[str, list[Version]] = {i: [] for i in ids}
    with psycopg.connect(stack.dsn("compliance")) as conn:
        for tx_id, version, status, previous, owner in conn.execute(
            "select transaction_id, version, transaction_status, previous_status, execution_id"
            " from compliance.transaction_versions where transaction_id = any(%s) order by transaction_id, version",
            (ids,),
        ):
            found[tx_id].append((version, status, previous, owner))
        current = conn.execute(
            "select transaction_id, version, transaction_status from compliance.transactions"
            " where transaction_id = any(%s)",
            (ids,),
        ).fetchall()
    for tx_id, version, status in current:  # the current row is the latest version
        assert found[tx_id][-1][:2] == (version, status)
    return found


def analytics(stack: LocalStack, marker: str) -> list[dict[str, Any]]:
    """The analytics lines of the objects whose key holds ``marker`` (a run's ``batch-<run>-``, a stream batch's
    ``batch-stream-``), each checked PII-free."""
    s3 = stack.client("s3")
    bucket = stack.require_settings().analytics_bucket
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="transactions/"):
        for obj in page.get("Contents", []):
            if marker in obj["Key"]:
                for line in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().splitlines():
                    record = json.loads(line)
                    assert "client_ip" not in record and "card_last4" not in record["payment_details"]
                    lines.append(record)
    return lines


def stamps(lines: list[dict[str, Any]], tx: dict[str, Any]) -> list[tuple[int, str | None, str]]:
    """(version, previous status, status) of the analytics lines of ``tx``, by version."""
    mine = [r for r in lines if r["transactionId"] == tx["transactionId"]]
    for r in mine:
        assert set(VERSION_FIELDS) <= set(r) and r["status_updated_at"].endswith("Z")
    return sorted((r["version"], r["previous_status"], r["payment_details"]["transaction_status"]) for r in mine)


def by_api(stack: LocalStack, lines: list[str]) -> None:
    assert stack.api is not None
    results = post_lines(stack.api.url, lines, concurrency=1, api_key=stack.producer_key)
    started = [r["body"]["executionArn"] for r in results if r["status"] == 202]
    assert len(started) == len(lines)
    outcomes = ingest.wait_for(stack.client, started, timeout=300)
    assert (len(outcomes.stored), outcomes.failed) == (len(lines), [])


def lifecycle_letters(stack: LocalStack) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """transaction id -> (reason, field errors) of each dead letter."""
    out = {}
    for letter in dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url):
        assert letter.error == "LifecycleMoveRefused" and letter.transaction_id
        cause = json.loads(letter.body["error"]["Cause"])
        out[letter.transaction_id] = (letter.reason, cause["fields"])
    return out


LIFE = [(1, "pending", None), (2, "completed", "pending"), (3, "refunded", "completed")]


def test_a_file_with_the_life_of_a_payment_stores_three_versions_and_a_resend_nothing(
    clean_queues: LocalStack,
) -> None:
    stack = clean_queues
    a, *others = transactions(4, seed=2501)
    lines = [message(a, "refunded"), *(json.dumps(o) for o in others), message(a, "pending"),
             message(a, "completed"), message(a, "completed")]  # fmt: skip
    run = drop(stack, ndjson(lines), "life.ndjson")
    assert run["status"] == "COMPLETED", run
    assert (run["records"], run["stored"], run["duplicates"], run["dead_lettered"]) == (7, 6, 1, 0)
    ref = f"batch:{run['run_id']}:0"
    assert history(stack, a)[a["transactionId"]] == [(v, s, p, ref) for v, s, p in LIFE]
    lines_a = stamps(analytics(stack, f"batch-{run['run_id']}-"), a)
    assert lines_a == [(v, p, s) for v, s, p in LIFE]  # one analytics line per version
    assert all(h == [(1, o["payment_details"]["transaction_status"], None, ref)] for o in others
               for h in history(stack, o).values())  # fmt: skip

    # the same statuses again, and older ones, in a later file: nothing written
    again = drop(
        stack, ndjson([message(a, "completed"), message(a, "refunded"), message(a, "pending")]), "again.ndjson"
    )
    assert (again["status"], again["stored"], again["duplicates"], again["dead_lettered"]) == ("COMPLETED", 0, 3, 0)
    assert history(stack, a)[a["transactionId"]] == [(v, s, p, ref) for v, s, p in LIFE]
    assert analytics(stack, f"batch-{again['run_id']}-") == []


def test_a_later_file_moves_transactions_stored_by_a_file_and_the_api_and_refuses_bad_moves(
    clean_queues: LocalStack,
) -> None:
    stack = clean_queues
    b, c, d, e, f, g = transactions(6, seed=2502)
    first = drop(stack, ndjson([message(b, "pending"), message(c, "completed"), message(e, "failed"),
                                message(f, "pending")]), "first.ndjson")  # fmt: skip
    assert first["stored"] == 4
    by_api(stack, [message(d, "pending")])
    second = drop(stack, ndjson([
        message(b, "completed"), message(c, "refunded"), message(d, "completed"),
        message(e, "completed"),  # failed is final: an illegal move
        message(f, "completed", user_id="someone-else"),  # another player: an immutable field changed
        message(g, "pending"),
    ]), "second.ndjson")  # fmt: skip
    assert second["status"] == "COMPLETED", second
    assert (second["records"], second["stored"], second["duplicates"], second["dead_lettered"]) == (6, 4, 0, 2)
    ref1, ref2 = f"batch:{first['run_id']}:0", f"batch:{second['run_id']}:0"
    got = history(stack, b, c, d, e, f, g)
    assert got[b["transactionId"]] == [(1, "pending", None, ref1), (2, "completed", "pending", ref2)]
    assert got[c["transactionId"]] == [(1, "completed", None, ref1), (2, "refunded", "completed", ref2)]
    [(_, _, _, api_owner), d2] = got[d["transactionId"]]
    assert not api_owner.startswith(("batch:", "stream:")) and d2 == (2, "completed", "pending", ref2)
    assert got[e["transactionId"]] == [(1, "failed", None, ref1)]
    assert got[f["transactionId"]] == [(1, "pending", None, ref1)]
    assert got[g["transactionId"]] == [(1, "pending", None, ref2)]
    lines = analytics(stack, f"batch-{second['run_id']}-")
    assert sorted((r["transactionId"], r["version"]) for r in lines) == sorted(
        [(t["transactionId"], 2) for t in (b, c, d)] + [(g["transactionId"], 1)])  # fmt: skip
    assert stamps(lines, c) == [(2, "completed", "refunded")]

    letters = lifecycle_letters(stack)
    assert set(letters) == {e["transactionId"], f["transactionId"]}
    reason, fields = letters[e["transactionId"]]
    assert fields == [
        {"field": "transaction_status", "rule": "lifecycle.move_not_allowed", "reason": fields[0]["reason"]}
    ]
    assert "[lifecycle.move_not_allowed]" in reason and "failed" not in reason.split("(")[0]
    reason, fields = letters[f["transactionId"]]
    assert [(x["field"], x["rule"]) for x in fields] == [("user_id", "lifecycle.immutable_field")]
    assert "user_id" in reason and "someone-else" not in reason and f["user_id"] not in reason


def test_a_chunk_run_again_after_it_committed_stores_nothing_twice(clean_queues: LocalStack) -> None:
    """ProcessChunk retried after its first attempt committed (its answer lost): the retry owns the versions the
    first stored (new transactions and a status update), writes the same analytics bytes, stores nothing more."""
    stack = clean_queues
    h, k = transactions(2, seed=2503)
    assert drop(stack, ndjson([message(h, "pending")]), "before.ndjson")["stored"] == 1
    s = stack.require_settings()
    key = f"chunks/test-bulk-versions/{time.time_ns()}.ndjson"
    body = ndjson([message(h, "refunded"), message(k, "completed"), message(h, "completed"), message(k, "pending")])
    stack.client("s3").put_object(Bucket=s.raw_bucket, Key=key, Body=body)
    run_id, received = f"retry-{time.time_ns()}", dt.datetime.now(dt.UTC).isoformat()

    first = process_chunk.process(s.raw_bucket, key, run_id, 0, received)
    lines_first = analytics(stack, f"batch-{run_id}-")
    again = process_chunk.process(s.raw_bucket, key, run_id, 0, received)
    lines_again = analytics(stack, f"batch-{run_id}-")

    assert first["stored"] == again["stored"] == 4 and first["dead_lettered"] == again["dead_lettered"] == 0
    ref = f"batch:{run_id}:0"
    got = history(stack, h, k)
    assert [v[:3] for v in got[h["transactionId"]]] == [(1, "pending", None), *LIFE[1:]]
    assert [v[3] for v in got[h["transactionId"]]][1:] == [ref, ref]
    assert got[k["transactionId"]] == [(v, s_, p, ref) for v, s_, p in LIFE[:2]]
    assert lines_again == lines_first and len(lines_again) == 4  # the same lines, not twice
    assert Counter((r["transactionId"], r["version"]) for r in lines_again).most_common(1)[0][1] == 1


def _event(lines: list[str], first_sequence: int) -> dict[str, Any]:
    now = time.time()
    return {"Records": [
        {"kinesis": {"partitionKey": "k", "sequenceNumber": str(first_sequence + i), "approximateArrivalTimestamp": now,
                     "data": base64.b64encode(line.encode()).decode()},
         "eventSource": "aws:kinesis", "eventID": f"shardId-000000000098:{first_sequence + i}"}
        for i, line in enumerate(lines)
    ]}  # fmt: skip


def test_the_stream_stores_versions_moves_earlier_transactions_and_refuses_bad_moves(
    clean_queues: LocalStack,
) -> None:
    """Through the stream and the local event source mapping: the life of a payment (partition key = its id, so
    its records keep their order), updates of transactions a file and the API stored, a re-sent and an older
    status (nothing written), an illegal move and an immutable change (dead-lettered alone)."""
    stack = clean_queues
    life, x, y, z, w = transactions(5, seed=2504)
    assert drop(stack, ndjson([message(x, "pending"), message(z, "refunded"), message(w, "completed")]),
                "before-stream.ndjson")["stored"] == 3  # fmt: skip
    by_api(stack, [message(y, "pending")])
    at = dt.datetime.fromisoformat(w["event_timestamp"].replace("Z", "+00:00")) - dt.timedelta(minutes=7)
    earlier = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # another time of the same purchase: refused
    put(stack, [message(life, "pending"), message(life, "completed"), message(life, "refunded"),
                message(x, "completed"), message(y, "completed"), message(x, "completed"), message(x, "pending"),
                message(z, "chargeback"), message(w, "refunded", event_timestamp=earlier)])  # fmt: skip
    got = history(stack, life, x, y, z, w)
    assert [v[:3] for v in got[life["transactionId"]]] == LIFE
    assert all(v[3].startswith("stream:shardId-") for v in got[life["transactionId"]])
    assert [v[:3] for v in got[x["transactionId"]]] == LIFE[:2] and got[x["transactionId"]][1][3].startswith("stream:")
    assert [v[:3] for v in got[y["transactionId"]]] == LIFE[:2] and got[y["transactionId"]][1][3].startswith("stream:")
    assert [v[:3] for v in got[z["transactionId"]]] == [(1, "refunded", None)]
    assert [v[:3] for v in got[w["transactionId"]]] == [(1, "completed", None)]
    lines = analytics(stack, "/batch-stream-")
    assert stamps(lines, life) == [(v, p, s) for v, s, p in LIFE]
    assert stamps(lines, x) == stamps(lines, y) == [(2, "pending", "completed")]
    letters = lifecycle_letters(stack)
    assert set(letters) == {z["transactionId"], w["transactionId"]}
    assert letters[z["transactionId"]][1][0]["rule"] == "lifecycle.move_not_allowed"
    assert [(f["field"], f["rule"]) for f in letters[w["transactionId"]][1]] == [
        ("event_timestamp", "lifecycle.immutable_field")]  # fmt: skip
    assert earlier not in letters[w["transactionId"]][0] and w["event_timestamp"] not in letters[w["transactionId"]][0]
    for letter in dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url):
        assert letter.body["failed_state"] == "IngestStream"


def test_a_stream_batch_delivered_again_stores_no_version_twice(clean_queues: LocalStack) -> None:
    stack = clean_queues
    p, q = transactions(2, seed=2505)
    assert drop(stack, ndjson([message(p, "pending")]), "before-batch.ndjson")["stored"] == 1
    lines = [message(q, "completed"), message(p, "completed"), message(q, "pending"), message(p, "refunded")]
    event = _event(lines, 3 * 10**20)
    first = ingest_stream.ingest(ingest_stream.StreamBatch.of(event))
    again = ingest_stream.ingest(ingest_stream.StreamBatch.of(event))
    assert (first.failures, again.failures) == ([], [])
    assert first.stored == again.stored == 4 and first.dead_lettered == again.dead_lettered == 0
    ref = ingest_stream.batch_ref("shardId-000000000098", str(3 * 10**20))
    got = history(stack, p, q)
    assert [v[:3] for v in got[p["transactionId"]]] == LIFE and [v[3] for v in got[p["transactionId"]][1:]] == [ref] * 2
    assert got[q["transactionId"]] == [(v, s, prev, ref) for v, s, prev in LIFE[:2]]
    marker = f"batch-{ingest_stream.batch_name('shardId-000000000098', str(3 * 10**20))}-"
    lines_got = analytics(stack, marker)
    assert sorted((r["transactionId"], r["version"]) for r in lines_got) == sorted(
        [(p["transactionId"], 2), (p["transactionId"], 3), (q["transactionId"], 1), (q["transactionId"], 2)]
    )
    # the same records in another batch (a producer sending them again): nothing stored
    other = ingest_stream.ingest(ingest_stream.StreamBatch.of(_event(lines, 4 * 10**20)))
    assert (other.stored, other.duplicates, other.dead_lettered) == (0, 4, 0)
    assert history(stack, p, q) == got


def test_undo_of_a_failed_chunk_takes_back_only_its_versions(clean_queues: LocalStack) -> None:
    """DeadLetterChunk's undo after a chunk committed: the transactions it created are deleted, a transaction it
    moved goes back one version to the values the earlier writer stored, its analytics objects are removed."""
    stack = clean_queues
    m, n = transactions(2, seed=2506)
    earlier = drop(stack, ndjson([message(m, "pending")]), "before-undo.ndjson")
    columns = "user_id, game, item_id, price_amount, price_currency, card_last4, transaction_status, gateway, event_at, client_ip, raw, execution_id"  # noqa: E501
    with psycopg.connect(stack.dsn("compliance")) as conn:
        before = conn.execute(
            f"select {columns} from compliance.transactions where transaction_id = %s",
            (m["transactionId"],),
        ).fetchone()
    s = stack.require_settings()
    key = f"chunks/test-bulk-versions/{time.time_ns()}.ndjson"
    moved = message(m, "completed", client_ip="198.51.100.7")  # a later version may change the payment details
    stack.client("s3").put_object(Bucket=s.raw_bucket, Key=key, Body=ndjson([moved, message(n, "pending")]))
    run_id = f"undo-{time.time_ns()}"
    assert process_chunk.process(s.raw_bucket, key, run_id, 0)["stored"] == 2
    assert len(history(stack, m)[m["transactionId"]]) == 2 and analytics(stack, f"batch-{run_id}-")

    assert process_chunk.undo_chunk(run_id, 0) == 2
    got = history(stack, m, n)
    assert got[m["transactionId"]] == [(1, "pending", None, f"batch:{earlier['run_id']}:0")]
    assert got[n["transactionId"]] == []
    with psycopg.connect(stack.dsn("compliance")) as conn:
        after = conn.execute(
            f"select {columns} from compliance.transactions where transaction_id = %s",
            (m["transactionId"],),
        ).fetchone()
    assert after == before
    assert analytics(stack, f"batch-{run_id}-") == []


@pytest.fixture
def poison_check(clean_queues: LocalStack) -> Iterator[LocalStack]:
    """A constraint the compliance table's owner adds (NOT VALID: stored rows unchecked) that a crafted record
    breaks (23514), so that ProcessChunk loads its chunk again in parts around it."""
    with psycopg.connect(clean_queues.dsn("compliance"), autocommit=True) as conn:
        conn.execute(
            "alter table compliance.transactions add constraint test_versions_poison"
            " check (user_id not like 'poisonv-%') not valid"
        )
        try:
            yield clean_queues
        finally:
            conn.execute("alter table compliance.transactions drop constraint if exists test_versions_poison")


def test_a_chunk_loaded_in_parts_around_a_poison_record_still_applies_versions_in_lifecycle_order(
    poison_check: LocalStack,
) -> None:
    """The isolating load (halves, then row by row) sorts the lines by lifecycle rank: the versions of a transaction
    split over parts are applied as one load would (pending first), the refused record is quarantined alone."""
    stack = poison_check
    a, poison, *others = transactions(8, seed=2507)
    bad = message(poison, "pending", user_id="poisonv-1")
    lines = [message(a, "refunded"), *(json.dumps(o) for o in others[:3]), bad, *(json.dumps(o) for o in others[3:]),
             message(a, "completed"), message(a, "pending")]  # fmt: skip
    run = drop(stack, ndjson(lines), "versions-with-poison.ndjson")
    assert run["status"] == "COMPLETED", run
    assert (run["records"], run["stored"], run["dead_lettered"], run["quarantined"]) == (10, 9, 1, 1)
    ref = f"batch:{run['run_id']}:0"
    got = history(stack, a, poison)
    assert got[a["transactionId"]] == [(v, s, p, ref) for v, s, p in LIFE]
    assert got[poison["transactionId"]] == []
    assert stamps(analytics(stack, f"batch-{run['run_id']}-"), a) == [(v, p, s) for v, s, p in LIFE]
    [letter] = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert letter.error == "DatabaseRejected" and letter.transaction_id == poison["transactionId"]
