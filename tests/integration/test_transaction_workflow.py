"""The transaction workflow on the real local stack: every branch, end to end.

Each test sends through the real entrance (the API or start_execution with the
ASL file rendered as Terraform renders it) and then looks in every store:
PostgreSQL (compliance), S3 + DynamoDB (analytics), the execution-status table,
the dead-letter queue and the alert inbox.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import botocore.exceptions
import psycopg
import pytest

from contracts.lifecycle import message_key
from orchestration import asl_policy
from orchestration.cli import dlq
from orchestration.runtime import moto_inprocess
from orchestration.runtime.ingest import wait_for
from orchestration.runtime.stack import LocalStack
from tests.helpers import run_execution, seed_tx, unique_id

pytestmark = pytest.mark.integration


def post(stack: LocalStack, body: bytes) -> tuple[int, dict[str, Any]]:
    assert stack.api is not None
    req = urllib.request.Request(f"{stack.api.url}/transactions", data=body, method="POST", headers=stack.api_headers())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def send_and_wait(stack: LocalStack, tx: dict[str, Any]) -> dict[str, Any]:
    return run_execution(stack, "transaction", {"transaction": tx, "received_at": "2026-11-22T00:00:00Z"})


def compliance_row(stack: LocalStack, tx_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(stack.dsn("compliance")) as conn:
        return conn.execute(
            "select transaction_id, card_last4, host(client_ip), price_amount from compliance.transactions"
            " where transaction_id = %s",
            (tx_id,),
        ).fetchone()


def analytics_object(stack: LocalStack, tx: dict[str, Any]) -> dict[str, Any] | None:
    key = f"transactions/dt={tx['event_timestamp'][:10]}/{tx['transactionId']}.json"
    s3 = stack.client("s3")
    try:
        return dict(json.loads(s3.get_object(Bucket=stack.require_settings().analytics_bucket, Key=key)["Body"].read()))
    except s3.exceptions.NoSuchKey:
        return None


def analytics_item(stack: LocalStack, tx_id: str) -> dict[str, Any] | None:
    got = stack.client("dynamodb").get_item(
        TableName=stack.require_settings().analytics_table, Key={"transaction_id": {"S": tx_id}}
    )
    return got.get("Item")


def status_of(stack: LocalStack, tx_id: str, status: str = "pending") -> dict[str, Any] | None:
    """The execution status item of one message (transaction id and status: its message key)."""
    got = stack.client("dynamodb").get_item(
        TableName=stack.require_settings().execution_status_table,
        Key={"transaction_id": {"S": message_key(tx_id, status)}},
    )
    return got.get("Item")


def dead_letters(stack: LocalStack) -> list[dlq.DeadLetter]:
    return dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)


def alerts(stack: LocalStack) -> list[dict[str, Any]]:
    """The alerts in the inbox, taken out of it (none left in flight for the next test to meet)."""
    assert stack.provisioned is not None
    sqs, url = stack.client("sqs"), stack.provisioned.alerts_inbox_url
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for m in msgs:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in msgs]


def assert_stored_once(stack: LocalStack, tx: dict[str, Any]) -> None:
    row = compliance_row(stack, tx["transactionId"])
    assert row is not None and row[1] == tx["payment_details"].get("card_last4") and row[2] == tx["client_ip"]
    obj = analytics_object(stack, tx)
    assert obj is not None and obj["transactionId"] == tx["transactionId"]
    assert "client_ip" not in obj and "card_last4" not in obj["payment_details"]
    assert obj["user_id"] == tx["user_id"]
    assert analytics_item(stack, tx["transactionId"]) is not None
    assert status_of(stack, tx["transactionId"])["status"]["S"] == "COMPLETED"  # type: ignore[index]


def assert_dead_lettered(stack: LocalStack, tx: dict[str, Any], error: str, reason_part: str) -> dlq.DeadLetter:
    assert compliance_row(stack, tx["transactionId"]) is None
    assert analytics_object(stack, tx) is None
    assert analytics_item(stack, tx["transactionId"]) is None
    mine = [d for d in dead_letters(stack) if d.body.get("transaction", {}).get("transactionId") == tx["transactionId"]]
    assert len(mine) == 1, mine
    assert mine[0].sent_at > 0 and mine[0].receive_count >= 1  # what `mtx dlq list` shows as age and receives
    assert mine[0].error == error
    assert reason_part in mine[0].reason
    return mine[0]


def test_happy_path_stores_full_record_in_rds_and_pii_free_copy_in_s3_and_dynamodb(
    clean_queues: LocalStack,
) -> None:
    stack = clean_queues
    tx = seed_tx()
    d = send_and_wait(stack, tx)
    assert d["status"] == "SUCCEEDED"
    out = json.loads(d["output"])
    assert out == {"transaction_id": tx["transactionId"], "outcome": "STORED"}  # no PII in execution output
    assert_stored_once(stack, tx)
    assert dead_letters(stack) == []
    assert alerts(stack) == []
    # Execution history: once the compliance write is done, no state carries the card or the IP.
    events = stack.client("stepfunctions").get_execution_history(executionArn=d["executionArn"], maxResults=1000)
    events = events["events"]
    written = next(
        i for i, e in enumerate(events)
        if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == "StoreComplianceRecord"
    )  # fmt: skip
    before, after = json.dumps(events[:written], default=str), json.dumps(events[written:], default=str)
    # (the card by its field name: four digits alone can occur in any timestamp or id)
    card, ip = "card_last4", tx["client_ip"]
    assert card in before and ip in before  # the scan sees them where they are allowed (validation, the write)
    assert card not in after and ip not in after
    assert tx["transactionId"] in after


def test_api_answers_202_and_the_execution_stores_it(clean_queues: LocalStack) -> None:
    stack = clean_queues
    tx = seed_tx()
    served = moto_inprocess.served
    status, body = post(stack, json.dumps(tx).encode())
    assert status == 202 and body["transactionId"] == tx["transactionId"]
    outcomes = wait_for(stack.client, [body["executionArn"]])
    assert len(outcomes.stored) == 1
    assert_stored_once(stack, tx)
    if not stack.processes:
        # the API's StartExecution and the workflow's RegisterTransaction and MarkCompleted were served by moto's
        # application in this process, not over a socket to itself (orchestration/runtime/moto_inprocess.py)
        assert moto_inprocess.served - served >= 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"transactionId": "x", ', "$"),
        (json.dumps({**seed_tx(), "game": None}).encode(), "game"),
        (json.dumps(seed_tx(item_purchased={"item_id": "a", "item_name": "b", "item_type": "cosmetic",
                                            "price": {"currency": "USD", "amount": -1}})).encode(),
         "item_purchased.price.amount"),
    ],
)  # fmt: skip
def test_api_rejects_invalid_bodies_with_field_errors_and_dead_letters_them(
    clean_queues: LocalStack, body: bytes, field: str
) -> None:
    stack = clean_queues
    status, answer = post(stack, body)
    assert status == 400
    assert answer["error"] == "InvalidTransaction" and answer["dead_lettered"] is True
    assert field in [f["field"] for f in answer["fields"]]
    [letter] = dead_letters(stack)
    assert letter.error == "InvalidTransaction" and field in letter.reason
    assert len(alerts(stack)) == 1


def test_invalid_payload_inside_the_workflow_is_dead_lettered_with_the_field(
    clean_queues: LocalStack,
) -> None:
    stack = clean_queues
    tx = seed_tx(server_region="Moon-Base", client_ip="198.51.100.77")  # a documentation range: a canary
    tx["payment_details"] = {**tx["payment_details"], "card_last4": "4821"}
    d = send_and_wait(stack, tx)
    assert d["status"] == "FAILED" and d["error"] == "DataValidationError"
    letter = assert_dead_lettered(stack, tx, "InvalidTransaction", "server_region")
    assert letter.body["failed_state"] == "ValidateTransaction"
    [alert] = alerts(stack)
    assert alert["error"]["Error"] == "InvalidTransaction"
    # the alert names the error and the execution, never the transaction: no card, no IP, no record
    assert set(alert) == {"error", "execution_id", "failed_at"}
    assert tx["payment_details"]["card_last4"] not in json.dumps(alert) and tx["client_ip"] not in json.dumps(alert)


@pytest.mark.parametrize(
    ("item", "error", "reason"),
    [
        ({"item_id": "mtx_no_such_item", "item_name": "Ghost", "item_type": "cosmetic",
          "price": {"currency": "USD", "amount": 10}}, "ItemNotFound", "not in the shop catalogue"),
        (None, "ItemNotPurchasable", "not for sale"),
        ({"item_id": "mtx_abyssal_wings", "item_name": "Abyssal Wings", "item_type": "cosmetic",
          "price": {"currency": "USD", "amount": 12.5}}, "PriceMismatch", "differs from the catalogue price"),
        ({"item_id": "mtx_abyssal_wings", "item_name": "Abyssal Wings", "item_type": "cosmetic",
          "price": {"currency": "CHF", "amount": 10}}, "PriceMismatch", "not sold in this currency"),
    ],
)  # fmt: skip
def test_catalogue_rejections_are_dead_lettered(
    clean_queues: LocalStack, item: dict[str, Any] | None, error: str, reason: str
) -> None:
    from orchestration.sample_data.catalogue import CATALOGUE

    stack = clean_queues
    if item is None:
        retired = next(i for i in CATALOGUE if not i.purchasable)
        item = {"item_id": retired.item_id, "item_name": retired.item_name, "item_type": retired.item_type,
                "price": {"currency": "USD", "amount": float(retired.prices["USD"])}}  # fmt: skip
        tx = seed_tx(item_purchased=item, game=retired.game)
    else:
        tx = seed_tx(item_purchased=item)
    d = send_and_wait(stack, tx)
    assert d["status"] == "FAILED" and d["error"] == "DataValidationError"
    letter = assert_dead_lettered(stack, tx, error, reason)
    # raised by CheckItemInShop and caught by name: the Cause is the function's error payload, as for every
    # other dead letter (the contract's and the file path's)
    assert json.loads(letter.body["error"]["Cause"])["errorType"] == error
    status = status_of(stack, tx["transactionId"])
    assert status is not None and status["status"]["S"] == "FAILED" and status["error_name"]["S"] == error


def test_same_transaction_id_twice_is_stored_once(clean_queues: LocalStack) -> None:
    stack = clean_queues
    tx = seed_tx()
    first = send_and_wait(stack, tx)
    second = send_and_wait(stack, tx)
    assert json.loads(first["output"])["outcome"] == "STORED"
    assert json.loads(second["output"])["outcome"] == "DUPLICATE"
    with psycopg.connect(stack.dsn("compliance")) as conn:
        n = conn.execute(
            "select count(*) from compliance.transactions where transaction_id = %s", (tx["transactionId"],)
        ).fetchone()
    assert n == (1,)
    assert dead_letters(stack) == []


def test_database_down_is_retried_then_dead_lettered_and_redrive_stores_it(clean_queues: LocalStack) -> None:
    stack = clean_queues
    tx = seed_tx()
    stack.pg.kill()
    try:
        d = send_and_wait(stack, tx)
    finally:
        stack.pg.restart()
    assert d["status"] == "FAILED"
    history = stack.client("stepfunctions").get_execution_history(executionArn=d["executionArn"], maxResults=1000)
    compliance_attempts = [
        e for e in history["events"]
        if e["type"] == "TaskScheduled" and "store-compliance" in e["taskScheduledEventDetails"]["parameters"]
    ]  # fmt: skip
    # first try + every retry of the policy's database budget (orchestration/asl_policy.py)
    assert len(compliance_attempts) == 1 + asl_policy.DATABASE.max_attempts
    letter = assert_dead_lettered(stack, tx, "DatabaseUnavailable", "unavailable")
    assert letter.transaction_id == tx["transactionId"]
    # the analytics copy is written after the compliance version only: none was (never half-stored)
    assert analytics_object(stack, tx) is None

    report = dlq.redrive(stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"))
    assert (report.taken, report.stored, report.failed_again) == (1, 1, 0)
    assert_stored_once(stack, tx)
    assert dead_letters(stack) == []


def test_s3_failure_is_dead_lettered_without_a_compliance_row_then_redriven(clean_queues: LocalStack) -> None:
    stack = clean_queues
    s = stack.require_settings()
    s3 = stack.client("s3")
    tx = seed_tx(transactionId=unique_id("s3fail"))
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Outage", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                       "Resource": f"arn:aws:s3:::{s.analytics_bucket}/*"}],
    }  # fmt: skip
    s3.put_bucket_policy(Bucket=s.analytics_bucket, Policy=json.dumps(policy))
    try:
        probe = s3.put_object(Bucket=s.analytics_bucket, Key="probe", Body=b"x")
        enforced = probe is None
    except s3.exceptions.ClientError:
        enforced = True
    if not enforced:
        # moto does not enforce bucket policies: take the bucket away instead (NoSuchBucket)
        s3.delete_bucket_policy(Bucket=s.analytics_bucket)
        s3.delete_object(Bucket=s.analytics_bucket, Key="probe")
        saved = _empty_and_delete_bucket(s3, s.analytics_bucket)
    try:
        d = send_and_wait(stack, tx)
    finally:
        if enforced:
            s3.delete_bucket_policy(Bucket=s.analytics_bucket)
        else:
            _restore_bucket(stack, saved)
    assert d["status"] == "FAILED"
    assert_dead_lettered(stack, tx, "AnalyticsWriteFailed", s.analytics_bucket)
    report = dlq.redrive(stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"))
    assert report.stored == 1
    assert_stored_once(stack, tx)


def _empty_and_delete_bucket(s3: Any, bucket: str) -> list[tuple[str, bytes]]:
    saved = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            if v["IsLatest"]:
                saved.append((v["Key"], s3.get_object(Bucket=bucket, Key=v["Key"])["Body"].read()))
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        for m in page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=m["Key"], VersionId=m["VersionId"])
    s3.delete_bucket(Bucket=bucket)
    return saved


def _restore_bucket(stack: LocalStack, saved: list[tuple[str, bytes]]) -> None:
    from orchestration.runtime import manifest

    man = manifest.build(stack.require_settings())
    manifest.provision(man, stack.client, stack.secrets())
    s3 = stack.client("s3")
    for key, body in saved:
        s3.put_object(Bucket=stack.require_settings().analytics_bucket, Key=key, Body=body)


def test_a_lost_connection_to_an_aws_service_is_retried_not_dead_lettered(clean_queues: LocalStack) -> None:
    """CheckItemInShop's catalogue read loses its connection four times in a row (botocore retries three
    times itself, then the function raises StorageUnavailable, which the workflow retries): the
    transaction is stored, and nothing is dead-lettered. Before the handlers mapped transport errors,
    ConnectionClosedError left the function as itself, no Retry named it, and a valid transaction was
    dead-lettered."""
    stack = clean_queues
    if stack.processes:  # the fault is put on this process's own client, which no handler uses then
        pytest.skip("MTX_LOCAL_PROCESSES: the handlers run in Lambda worker processes, not this one")
    tx = seed_tx()
    catalogue = stack.require_settings().item_catalogue_table.encode()
    left = {"failures": 4}

    def drop(request: Any, **_: Any) -> None:
        if left["failures"] > 0 and catalogue in (request.body or b""):
            left["failures"] -= 1
            raise botocore.exceptions.ConnectionClosedError(endpoint_url=request.url)

    events = stack.client("dynamodb").meta.events  # the handlers' own client (one per service and process)
    events.register("before-send.dynamodb.GetItem", drop, unique_id="test-drop-catalogue-reads")
    try:
        d = send_and_wait(stack, tx)
    finally:
        events.unregister("before-send.dynamodb.GetItem", unique_id="test-drop-catalogue-reads")
    assert left["failures"] == 0, "the fault was not injected"
    assert d["status"] == "SUCCEEDED", d.get("cause")
    assert json.loads(d["output"])["outcome"] == "STORED"
    assert_stored_once(stack, tx)
    assert dead_letters(stack) == []


def test_register_transaction_after_a_lost_answer_finds_its_own_write_and_stores(clean_queues: LocalStack) -> None:
    """The conditional put of RegisterTransaction landed but its answer was lost: the retry finds the
    PENDING row written by this very execution and carries on, instead of calling it a duplicate and
    leaving it PENDING forever. The row is written beforehand with the execution's own id (an execution
    ARN is its state machine's ARN and its name)."""
    stack = clean_queues
    tx = seed_tx()
    name = uuid.uuid4().hex
    execution_arn = stack.state_machine_arn("transaction").replace(":stateMachine:", ":execution:") + f":{name}"
    stack.client("dynamodb").put_item(
        TableName=stack.require_settings().execution_status_table,
        Item={"transaction_id": {"S": message_key(tx["transactionId"], "pending")}, "status": {"S": "PENDING"},
              "execution_id": {"S": execution_arn}},
    )  # fmt: skip
    sfn = stack.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn("transaction"), name=name,
        input=json.dumps({"transaction": tx, "received_at": "2026-11-22T00:00:00Z"}),
    )  # fmt: skip
    assert started["executionArn"] == execution_arn
    outcome = wait_for(stack.client, [execution_arn])
    assert outcome.stored == [execution_arn], outcome
    assert_stored_once(stack, tx)
    # another execution with the same transaction id is still a duplicate
    again = send_and_wait(stack, tx)
    assert json.loads(again["output"])["outcome"] == "DUPLICATE"


def test_a_body_over_the_transaction_limit_is_refused_before_any_workflow(clean_queues: LocalStack) -> None:
    """8 KiB, as the WAF in front of API Gateway: no state's data can then approach Step Functions'
    256 KB limit (States.DataLimitExceeded), where a transaction would be neither stored nor dead-lettered."""
    stack = clean_queues
    tx = seed_tx()
    tx["item_purchased"]["item_name"] = "x" * (9 * 1024)
    status, body = post(stack, json.dumps(tx).encode())
    assert status == 413 and body["error"] == "PayloadTooLarge"
    assert "x" * 20 not in json.dumps(body)  # the answer does not echo the body
    assert compliance_row(stack, tx["transactionId"]) is None
    assert status_of(stack, tx["transactionId"]) is None  # no workflow ran


def test_redrive_keeps_a_message_whose_new_execution_failed_without_dead_lettering_it(
    clean_queues: LocalStack,
) -> None:
    """A redriven execution that fails before it reaches the dead-letter queue (here: a workflow that
    always fails with another error) must not take the message with it: the message stays, visible,
    and the report says so (kept: no outcome within the timeout; redrive reads outcomes from the status
    table and the new letter, never DescribeExecution). A failure that dead-letters anew deletes it."""
    stack = clean_queues
    tx = seed_tx(transactionId=unique_id("redrive"))
    tx["item_purchased"] = {**tx["item_purchased"], "item_id": "mtx_not_in_the_catalogue"}
    d = send_and_wait(stack, tx)
    assert d["status"] == "FAILED"
    [letter] = dead_letters(stack)
    sfn = stack.client("stepfunctions")
    broken = sfn.create_state_machine(
        name=f"always-fails-{uuid.uuid4().hex[:8]}",
        definition=json.dumps({"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom"}}}),
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    report = dlq.redrive(stack.client, stack.dead_letter_queue_url, broken, timeout=3)
    assert (report.taken, report.failed_again, report.kept) == (1, 0, 1)
    assert [x.message_id for x in dead_letters(stack)] == [letter.message_id]  # still there, visible

    # through the real workflow it fails again (still not in the catalogue) and is dead-lettered anew
    again = dlq.redrive(stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"))
    assert (again.taken, again.failed_again, again.kept) == (1, 1, 0)
    [new] = dead_letters(stack)
    assert new.message_id != letter.message_id and new.error == "ItemNotFound"
    assert (letter.attempts, new.attempts) == (0, 1)
