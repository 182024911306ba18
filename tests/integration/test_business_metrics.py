"""The business metrics the handlers publish (EMF, lambdas/common/metrics.py) say what happened.

Transactions go through the real entrances of the local stack (the transaction workflow, a file dropped
in the raw bucket); the EMF lines are kept as CloudWatch would keep them (orchestration/runtime/emf.py)
and summed. What could fail: a stored transaction not counted or counted twice, a reject counted under
the wrong reason or entrance, a dead letter not counted, a duplicate counted as stored.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from orchestration.cli import batch, dlq
from orchestration.runtime import emf
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate
from tests.helpers import run_execution, seed_tx

pytestmark = pytest.mark.integration


def _total(totals: dict[emf.Key, float], name: str, **dims: str) -> float:
    return totals.get((name, tuple(sorted(dims.items()))), 0.0)


def test_the_metrics_count_what_the_stores_and_the_dead_letter_queue_hold(
    clean_queues: LocalStack, tmp_path: Path
) -> None:
    stack = clean_queues
    sink = tmp_path / "emf.ndjson"
    valid = [seed_tx() for _ in range(3)]
    bad_amount = seed_tx()
    bad_amount["item_purchased"] = {**bad_amount["item_purchased"], "price": {"currency": "USD", "amount": -1}}
    unknown_item = seed_tx()
    unknown_item["item_purchased"] = {**unknown_item["item_purchased"], "item_id": "mtx_not_in_the_catalogue"}
    records = list(generate(400, seed=202, invalid_share=0.05, duplicate_share=0.02))
    kinds = Counter(r.kind for r in records)
    s = stack.require_settings()

    start = emf.size(stack.metrics_file)
    with emf.capture(sink):
        outcomes = [
            run_execution(stack, "transaction", {"transaction": tx, "received_at": "2026-11-22T00:00:00Z"})["status"]
            for tx in [*valid, bad_amount, unknown_item]
        ]
        known = batch.run_ids(stack.client, s, "incoming/metrics.ndjson")
        key = batch.upload_bytes(
            stack.client, s, ("\n".join(r.line for r in records) + "\n").encode(), "metrics.ndjson"
        )
        run = batch.wait_for_run(stack.client, s, key, timeout=600, known=known)

    assert outcomes == ["SUCCEEDED"] * 3 + ["FAILED", "FAILED"]
    # the lines of the handlers run in this process (captured) and of those run in the stack's Lambda worker
    # processes (MTX_LOCAL_PROCESSES: they append to the stack's file, as CloudWatch keeps each function's)
    kept = stack.metrics_file.read_bytes()[start:] if stack.metrics_file.exists() else b""
    sink.write_bytes((sink.read_bytes() if sink.exists() else b"") + kept)
    totals = emf.read(sink)
    # the per-transaction entrance
    assert _total(totals, "TransactionsReceived", Entrance="api") == 5
    assert _total(totals, "TransactionsStored", Entrance="api") == 3
    assert _total(totals, "TransactionsRejected", Entrance="api", Reason="InvalidTransaction") == 1
    assert _total(totals, "TransactionsRejected", Entrance="api", Reason="ItemNotFound") == 1
    # the file entrance: what the run's counts and the dead-letter queue say
    assert run["status"] == "COMPLETED"
    assert _total(totals, "TransactionsReceived", Entrance="file") == run["records"] == len(records)
    # (ids the session's earlier tests stored already are duplicates here: the run's counts say which)
    assert _total(totals, "TransactionsStored", Entrance="file") == run["stored"] > 0
    assert _total(totals, "DuplicatesIgnored", Entrance="file") == run["duplicates"] >= kinds["duplicate"]
    letters = [d for d in dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
               if d.body.get("failed_state") == "ProcessChunk"]  # fmt: skip
    by_reason = Counter(d.error for d in letters)
    published = {dict(dims)["Reason"]: v for (name, dims), v in totals.items()
                 if name == "DeadLettered" and dict(dims).get("Entrance") == "file"}  # fmt: skip
    assert published == by_reason and sum(by_reason.values()) == run["dead_lettered"]
    # every line carries the environment, none a transaction's value
    text = sink.read_text()
    assert all(json.loads(line)["Environment"] == s.name_prefix for line in text.splitlines())
    assert not any(tx["transactionId"] in text or tx["client_ip"] in text for tx in valid)
