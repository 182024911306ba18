"""The invariant over generated transactions sent through the real workflow.

`make test` sends 400, 8 at a time: every kind of bad record four or five times
and ten exact re-sends (as many of each as 1,000 records at the generator's 4%
and 1% gave), and 350 valid ones. ``MTX_EXACTLY_ONCE_N`` sends more with the same
shares, by hand (`MTX_EXACTLY_ONCE_N=10000 .venv/bin/python -m pytest
tests/integration/test_exactly_once.py`); it was 1,000 records here, ~190 s of
a 40-minute run on the slow box.

How it is proved: every record the generator makes carries its expected fate
(stored, duplicate re-send, rejected at the entrance, rejected by the
catalogue). After sending all of them concurrently and waiting for every
execution, the test reads every store back (all compliance rows, every S3
analytics object, every DynamoDB analytics item, every dead-letter message)
and checks, per transaction id, that it is in exactly one place, once.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from orchestration.cli import dlq
from orchestration.runtime.ingest import submit, wait_for
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import KINDS, generate

pytestmark = pytest.mark.integration

N = int(os.environ.get("MTX_EXACTLY_ONCE_N", "400"))
INVALID_SHARE, DUPLICATE_SHARE = 0.1, 0.025
ENTRANCE_REJECTS = {"malformed_json", "missing_field", "mistyped_field", "negative_amount", "absurd_amount",
                    "unknown_currency"}  # fmt: skip
CATALOGUE_REJECTS = {"unknown_item": "ItemNotFound", "not_for_sale": "ItemNotPurchasable",
                     "price_mismatch": "PriceMismatch"}  # fmt: skip


def _all_s3(stack: LocalStack) -> dict[str, bytes]:
    """Every analytics object, also those of the tests before this one: the PII sweep below is the run's
    structural check of the whole bucket (other tests check only their own records)."""
    s3 = stack.client("s3")
    bucket = stack.require_settings().analytics_bucket
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="transactions/"):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def _all_ddb(stack: LocalStack) -> list[dict[str, Any]]:
    ddb = stack.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=stack.require_settings().analytics_table):
        items.extend(page["Items"])
    return items


@pytest.mark.timeout(3600)
def test_every_transaction_is_stored_or_dead_lettered_exactly_once(clean_queues: LocalStack) -> None:
    stack = clean_queues
    records = list(generate(N, seed=20261122, invalid_share=INVALID_SHARE, duplicate_share=DUPLICATE_SHARE))
    kinds = Counter(r.kind for r in records)
    assert set(kinds) == set(KINDS), f"every kind of record is sent: {kinds}"
    assert min(kinds[k] for k in KINDS if k != "valid") >= 4, f"every kind of bad record four times: {kinds}"
    assert kinds["valid"] >= 0.8 * N

    def send(line: str) -> Any:
        return submit(line, settings=stack.require_settings(), clients=stack.client,
                      state_machine_arn=stack.state_machine_arn("transaction"),
                      queue_url=stack.dead_letter_queue_url)  # fmt: skip

    with ThreadPoolExecutor(max_workers=8) as pool:
        submissions = list(pool.map(send, (r.line for r in records)))
    arns = [s.execution_arn for s in submissions if s.execution_arn]
    outcomes = wait_for(stack.client, arns, timeout=3600)
    assert outcomes.running == []

    # --- what the generator says should have happened
    valid_ids = {r.transaction_id for r in records if r.kind == "valid"}
    duplicates = [r for r in records if r.kind == "duplicate"]
    entrance = [r for r in records if r.kind in ENTRANCE_REJECTS]
    catalogue = [r for r in records if r.kind in CATALOGUE_REJECTS]
    assert len(valid_ids) == kinds["valid"]  # ids are unique per generated record
    assert {r.transaction_id for r in duplicates} <= valid_ids

    # --- the entrance: 400 exactly for contract failures, 202 for everything else
    for rec, sub in zip(records, submissions, strict=True):
        assert sub.status == (400 if rec.kind in ENTRANCE_REJECTS else 202), (rec.kind, sub.body)

    # --- executions: stored + duplicates + failed = accepted
    assert len(outcomes.stored) == len(valid_ids)
    assert len(outcomes.duplicates) == len(duplicates)
    assert len(outcomes.failed) == len(catalogue)

    # --- compliance store: every valid id exactly once, nothing else
    with psycopg.connect(stack.dsn("compliance")) as conn:
        rows = conn.execute("select transaction_id from compliance.transactions").fetchall()
        run_rows = [r[0] for r in rows if r[0] in valid_ids or r[0] in {c.transaction_id for c in catalogue}]
    assert len(run_rows) == len(set(run_rows)) == len(valid_ids)
    assert set(run_rows) == valid_ids

    # --- analytics copies: one S3 object and one DynamoDB item per stored id
    objects = _all_s3(stack)
    object_ids = [k.rsplit("/", 1)[1].removesuffix(".json") for k in objects]
    mine = [i for i in object_ids if i in valid_ids or i in {c.transaction_id for c in catalogue}]
    assert sorted(mine) == sorted(valid_ids)
    items = _all_ddb(stack)
    item_ids = [it["transaction_id"]["S"] for it in items]
    assert valid_ids <= set(item_ids) and not ({c.transaction_id for c in catalogue} & set(item_ids))

    # --- dead-letter queue: exactly one message per rejected record, with its reason, none for stored ids
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert len(letters) == len(entrance) + len(catalogue)
    by_error = Counter(d.error for d in letters)
    assert by_error["InvalidTransaction"] == len(entrance)
    for kind, error in CATALOGUE_REJECTS.items():
        assert by_error[error] == kinds[kind]
    lettered_ids = [d.transaction_id for d in letters if d.transaction_id]
    assert len(lettered_ids) == len(set(lettered_ids))
    assert not (set(lettered_ids) & valid_ids)  # never both stored and dead-lettered
    assert all(d.reason for d in letters)

    # --- no analytics artefact holds a card number or an IP address
    sent_ips = {json.loads(r.line)["client_ip"] for r in records if r.kind in ("valid", "duplicate")}
    for key, body in objects.items():  # one JSON object, or NDJSON from the file entrance
        for line in body.splitlines():
            obj = json.loads(line)
            assert "client_ip" not in obj and "card_last4" not in obj.get("payment_details", {}), key
            assert not (_strings(obj) & sent_ips), key
    for it in items:
        assert "client_ip" not in it and "card_last4" not in json.dumps(it)
        assert not (_strings(it) & sent_ips)


def _strings(value: Any) -> set[str]:
    """Every string (keys and values) anywhere in a JSON-like value."""
    if isinstance(value, dict):
        return set(value) | set().union(*(_strings(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value))
    return {value} if isinstance(value, str) else set()
