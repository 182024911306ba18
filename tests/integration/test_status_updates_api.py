"""Status updates with versions on the API path (issue 25), through the real local stack.

Each message goes through POST /transactions (or start_execution, as the entrance does) and the whole
transaction workflow; the test then looks in every store: the compliance row and its history
(compliance.transaction_versions), the analytics objects (one per version) and the DynamoDB item (the newest
version), the execution status table (one item per message key) and the dead-letter queue.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import psycopg
import pytest

from contracts.lifecycle import message_key
from orchestration.runtime.ingest import wait_for
from orchestration.runtime.stack import LocalStack
from tests.helpers import run_execution, seed_tx
from tests.integration.test_transaction_workflow import analytics_item, dead_letters, post, status_of

pytestmark = pytest.mark.integration


def with_status(tx: dict[str, Any], status: str, **changes: Any) -> dict[str, Any]:
    """The same transaction, a later message: another status (and maybe other changes)."""
    out = json.loads(json.dumps(tx))
    out["payment_details"]["transaction_status"] = status
    out.update(changes)
    return out


def send(stack: LocalStack, tx: dict[str, Any]) -> dict[str, Any]:
    return run_execution(stack, "transaction", {"transaction": tx, "received_at": "2026-11-22T00:00:00Z"})


def send_via_api(stack: LocalStack, tx: dict[str, Any]) -> str:
    status, body = post(stack, json.dumps(tx).encode())
    assert status == 202, body
    outcome = wait_for(stack.client, [body["executionArn"]])
    assert not outcome.failed and not outcome.running, outcome
    return "DUPLICATE" if outcome.duplicates else "STORED"


def versions(stack: LocalStack, tx_id: str) -> list[tuple[int, str, str | None]]:
    with psycopg.connect(stack.dsn("compliance")) as conn:
        rows = conn.execute(
            "select version, transaction_status, previous_status from compliance.transaction_versions"
            " where transaction_id = %s order by version",
            (tx_id,),
        ).fetchall()
    return [(int(r[0]), str(r[1]), r[2]) for r in rows]


def current(stack: LocalStack, tx_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(stack.dsn("compliance")) as conn:
        return conn.execute(
            "select version, transaction_status, previous_status, price_amount, execution_id"
            " from compliance.transactions where transaction_id = %s",
            (tx_id,),
        ).fetchone()


def analytics_objects(stack: LocalStack, tx: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Key -> body of every analytics object of this transaction."""
    s3, bucket = stack.client("s3"), stack.require_settings().analytics_bucket
    prefix = f"transactions/dt={tx['event_timestamp'][:10]}/{tx['transactionId']}."
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {k: json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in sorted(keys)}


def item_version(stack: LocalStack, tx_id: str) -> tuple[int, str] | None:
    item = analytics_item(stack, tx_id)
    if item is None:
        return None
    return int(item["version"]["N"]), item["payment_details"]["M"]["transaction_status"]["S"]


def letters_of(stack: LocalStack, tx_id: str) -> list[Any]:
    return [d for d in dead_letters(stack) if (d.body.get("transaction") or {}).get("transactionId") == tx_id]


def test_pending_completed_refunded_are_three_versions_each_with_its_analytics_copy(clean_queues: LocalStack) -> None:
    stack = clean_queues
    tx = seed_tx()
    tx_id = tx["transactionId"]
    assert send_via_api(stack, tx) == "STORED"
    assert send_via_api(stack, with_status(tx, "completed")) == "STORED"
    assert send_via_api(stack, with_status(tx, "refunded")) == "STORED"

    assert versions(stack, tx_id) == [(1, "pending", None), (2, "completed", "pending"), (3, "refunded", "completed")]
    row = current(stack, tx_id)
    assert row is not None and row[:3] == (3, "refunded", "completed")
    objects = analytics_objects(stack, tx)
    base = f"transactions/dt={tx['event_timestamp'][:10]}/{tx_id}"
    assert sorted(objects) == [f"{base}.json", f"{base}.v2.json", f"{base}.v3.json"]
    stamps = [(o["version"], o["previous_status"], o["payment_details"]["transaction_status"]) for o in
              (objects[f"{base}.json"], objects[f"{base}.v2.json"], objects[f"{base}.v3.json"])]  # fmt: skip
    assert stamps == [(1, None, "pending"), (2, "pending", "completed"), (3, "completed", "refunded")]
    assert all(o["status_updated_at"].endswith("Z") for o in objects.values())
    assert all("client_ip" not in o and "card_last4" not in o["payment_details"] for o in objects.values())
    assert item_version(stack, tx_id) == (3, "refunded")
    for status in ("pending", "completed", "refunded"):  # each message registered on its own
        item = status_of(stack, tx_id, status)
        assert item is not None and item["status"]["S"] == "COMPLETED", status
    assert dead_letters(stack) == []

    # an exact re-send of the last status is stopped at registration: nothing written
    assert send_via_api(stack, with_status(tx, "refunded")) == "DUPLICATE"
    assert len(versions(stack, tx_id)) == 3 and len(analytics_objects(stack, tx)) == 3
    assert dead_letters(stack) == []


def test_an_older_status_arriving_late_writes_nothing(clean_queues: LocalStack) -> None:
    """The refund arrives before the completion: the completion, arriving late, is stale (harmless)."""
    stack = clean_queues
    tx = with_status(seed_tx(), "completed")
    tx_id = tx["transactionId"]
    assert json.loads(send(stack, with_status(tx, "refunded"))["output"])["outcome"] == "STORED"
    late = send(stack, tx)
    assert late["status"] == "SUCCEEDED" and json.loads(late["output"])["outcome"] == "DUPLICATE"
    assert versions(stack, tx_id) == [(1, "refunded", None)]
    assert len(analytics_objects(stack, tx)) == 1 and item_version(stack, tx_id) == (1, "refunded")
    late_status = status_of(stack, tx_id, "completed")
    assert late_status is not None and late_status["status"]["S"] == "COMPLETED"  # settled: a re-send is a no-op
    assert dead_letters(stack) == []


def test_a_move_the_lifecycle_refuses_is_dead_lettered_with_its_rule_and_the_row_unchanged(
    clean_queues: LocalStack,
) -> None:
    stack = clean_queues
    tx = with_status(seed_tx(), "failed")
    tx_id = tx["transactionId"]
    assert json.loads(send(stack, tx)["output"])["outcome"] == "STORED"
    before = current(stack, tx_id)
    refused = send(stack, with_status(tx, "completed"))
    assert refused["status"] == "FAILED" and refused["error"] == "DataValidationError"  # a reject: never paged
    [letter] = letters_of(stack, tx_id)
    assert letter.error == "LifecycleMoveRefused"
    assert "transaction_status" in letter.reason and "[lifecycle.move_not_allowed]" in letter.reason
    assert letter.body["transaction"]["payment_details"]["transaction_status"] == "completed"  # redrivable
    assert current(stack, tx_id) == before and versions(stack, tx_id) == [(1, "failed", None)]
    assert len(analytics_objects(stack, tx)) == 1 and item_version(stack, tx_id) == (1, "failed")
    item = status_of(stack, tx_id, "completed")
    assert item is not None and (item["status"]["S"], item["error_name"]["S"]) == ("FAILED", "LifecycleMoveRefused")


def test_a_later_version_changing_the_amount_is_dead_lettered_naming_the_field_never_the_value(
    clean_queues: LocalStack,
) -> None:
    """The completion names another listed price of the same item (the catalogue accepts it, in another
    currency): the amount (and currency) a later version may not change."""
    from orchestration.sample_data.catalogue import CATALOGUE

    stack = clean_queues
    tx = seed_tx()
    tx_id = tx["transactionId"]
    assert json.loads(send(stack, tx)["output"])["outcome"] == "STORED"
    before = current(stack, tx_id)
    wings = next(i for i in CATALOGUE if i.item_id == tx["item_purchased"]["item_id"])
    currency, price = next((c, p) for c, p in sorted(wings.prices.items()) if p != wings.prices["USD"])
    eur = str(price)
    item = {**tx["item_purchased"], "price": {"currency": currency, "amount": float(eur)}}
    refused = send(stack, with_status(tx, "completed", item_purchased=item))
    assert refused["status"] == "FAILED" and refused["error"] == "DataValidationError", refused.get("cause")
    [letter] = letters_of(stack, tx_id)
    assert letter.error == "LifecycleMoveRefused"
    assert "item_purchased.price.amount" in letter.reason and "[lifecycle.immutable_field]" in letter.reason
    assert eur not in letter.reason and currency not in letter.reason and "10" not in letter.reason  # no values
    assert current(stack, tx_id) == before and versions(stack, tx_id) == [(1, "pending", None)]
    assert item_version(stack, tx_id) == (1, "pending")


def test_an_analytics_failure_on_a_later_version_takes_the_transaction_back_one_version(
    clean_queues: LocalStack,
) -> None:
    """The analytics copy of version 2 cannot be written (a permanent S3 refusal): the version this execution
    stored is undone (row back to version 1, its history row gone, the v2 object and item never kept), and
    the message is dead-lettered with its record recalled from the compliance store; a redrive stores it."""
    from orchestration.cli import dlq

    stack = clean_queues
    tx = seed_tx()
    tx_id = tx["transactionId"]
    assert json.loads(send(stack, tx)["output"])["outcome"] == "STORED"
    before = current(stack, tx_id)
    v2_key = f"{tx_id}.v2.json".encode()

    def refuse(request: Any, **_: Any) -> None:
        if v2_key in request.url.encode():
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "denied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
                "PutObject",
            )

    events = stack.client("s3").meta.events  # the handlers' own client (one per service and process)
    events.register("before-send.s3.PutObject", refuse, unique_id="test-refuse-v2")
    try:
        failed = send(stack, with_status(tx, "completed"))
    finally:
        events.unregister("before-send.s3.PutObject", unique_id="test-refuse-v2")
    assert failed["status"] == "FAILED" and failed["error"] == "TransactionNotStored"
    assert current(stack, tx_id) == before and versions(stack, tx_id) == [(1, "pending", None)]
    assert len(analytics_objects(stack, tx)) == 1 and item_version(stack, tx_id) == (1, "pending")
    [letter] = letters_of(stack, tx_id)
    assert letter.error == "AnalyticsWriteFailed"
    assert letter.body["transaction"]["payment_details"]["transaction_status"] == "completed"

    report = dlq.redrive(stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"))
    assert (report.taken, report.stored, report.failed_again) == (1, 1, 0)
    assert versions(stack, tx_id) == [(1, "pending", None), (2, "completed", "pending")]
    assert item_version(stack, tx_id) == (2, "completed") and len(analytics_objects(stack, tx)) == 2
    assert dead_letters(stack) == []
    key_item = status_of(stack, tx_id, "completed")
    assert key_item is not None and key_item["status"]["S"] == "COMPLETED"
    assert message_key(tx_id, "completed") == key_item["transaction_id"]["S"]


def _store_directly(stack: LocalStack, tx: dict[str, Any], writer: str) -> dict[str, Any]:
    """The compliance write alone, as the workflow's StoreComplianceRecord calls it, by ``writer``."""
    from orchestration.runtime.sfn import REGISTRY

    s = stack.require_settings()
    valid = REGISTRY.invoke(s.function_name("validate_transaction"), {"transaction": tx, "received_at": None})
    out = REGISTRY.invoke(
        s.function_name("store_compliance"), {"transaction": valid["Payload"]["transaction"], "execution_id": writer}
    )
    assert not out.get("FunctionError"), out["Payload"]
    return dict(out["Payload"])


@pytest.mark.parametrize("writer", ["this", "another-api-execution"])
def test_a_version_stored_by_an_api_execution_is_this_message_s_retry_and_completes(
    clean_queues: LocalStack, writer: str
) -> None:
    """The compliance write landed but its answer was lost (this execution), or an earlier execution of the
    same message stored it and was lost before its analytics copy (another): the version is returned as it is
    and the analytics copy is written; nothing is stored twice."""
    import uuid

    stack = clean_queues
    tx = seed_tx()
    tx_id = tx["transactionId"]
    name = uuid.uuid4().hex
    arn = stack.state_machine_arn("transaction").replace(":stateMachine:", ":execution:") + f":{name}"
    first = _store_directly(stack, tx, arn if writer == "this" else arn + "-earlier")
    assert first["version"] == 1 and first["previous_status"] is None
    sfn = stack.client("stepfunctions")
    sfn.start_execution(stateMachineArn=stack.state_machine_arn("transaction"), name=name,
                        input=json.dumps({"transaction": tx, "received_at": "2026-11-22T00:00:00Z"}))  # fmt: skip
    outcome = wait_for(stack.client, [arn])
    assert outcome.stored == [arn], outcome
    assert versions(stack, tx_id) == [(1, "pending", None)]
    [(key, record)] = analytics_objects(stack, tx).items()
    assert key.endswith(f"{tx_id}.json") and record["version"] == 1
    assert record["status_updated_at"] == first["status_updated_at"]  # the stored version's time, not a new one
    assert item_version(stack, tx_id) == (1, "pending") and dead_letters(stack) == []


def test_a_status_stored_by_a_bulk_entrance_is_a_duplicate_on_the_api_path(clean_queues: LocalStack) -> None:
    stack = clean_queues
    tx = seed_tx()
    _store_directly(stack, tx, "stream:shard-0:batch-1")
    completed = send(stack, with_status(tx, "completed"))  # an update through the API is applied on top
    assert json.loads(completed["output"])["outcome"] == "STORED"
    again = send(stack, tx)  # the bulk entrance's own status, sent through the API
    assert again["status"] == "SUCCEEDED" and json.loads(again["output"])["outcome"] == "DUPLICATE"
    assert versions(stack, tx["transactionId"]) == [(1, "pending", None), (2, "completed", "pending")]
    assert [k.rsplit("/", 1)[1] for k in analytics_objects(stack, tx)] == [f"{tx['transactionId']}.v2.json"]
    assert dead_letters(stack) == []
