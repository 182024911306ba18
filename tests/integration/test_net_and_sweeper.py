"""The last-resort net and the PENDING sweeper (#18 items 2 and 3) on the real local stack.

The net: the real batch workflow fails in a state with no dead-letter path (PrepareRun, a Pass state, on
an event without the object size: States.Runtime, uncaught); the runtime plays EventBridge's status-change
rule and the net Lambda dead-letters the execution's input, once, however often the event comes. An
execution that dead-lettered its own input (the transaction workflow's DataValidationError, the batch
workflow's BatchIngestFailed) is left alone.

The sweeper: records PENDING past the age (written as RegisterTransaction / RegisterRun write them, with
a registration time in the past) whose execution is still running, ended without settling them, stored
them but lost MarkCompleted, or cannot be described. Each is settled once; a second sweep changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from contracts.lifecycle import message_key, split_message_key
from lambdas.common.execution_dead_letters import ledger_state
from lambdas.dead_letter_failed_execution.handler import on_status_change
from lambdas.sweep_pending.handler import STUCK, sweep
from orchestration.cli import batch, dlq
from orchestration.cli import main as cli
from orchestration.runtime import manifest as manifest_mod
from orchestration.runtime.sfn import REGISTRY
from orchestration.runtime.stack import LocalStack
from orchestration.runtime.triggers import ExecutionStatusEvents, ScheduledRules
from tests.helpers import run_execution, seed_tx

pytestmark = pytest.mark.integration

LONG_AGO = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()


def wait_until(check: Callable[[], Any], timeout: float = 90.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not within {timeout} s")


def letters_of(stack: LocalStack, execution_arn: str) -> list[dlq.DeadLetter]:
    return [
        d for d in dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
        if d.body.get("execution_id") == execution_arn
    ]  # fmt: skip


def letters_of_transaction(stack: LocalStack, tx_id: str) -> list[dlq.DeadLetter]:
    return [d for d in dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url) if d.transaction_id == tx_id]


def finished(stack: LocalStack, arn: str, timeout: float = 90.0) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    return dict(
        wait_until(
            lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
            timeout, f"execution {arn} to end",
        )
    )  # fmt: skip


def status_item(stack: LocalStack, table: str, key: dict[str, Any]) -> dict[str, Any]:
    return dict(stack.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])


def key(tx_id: str) -> str:
    """The message key of a transaction's first message (seed_tx is pending)."""
    return message_key(tx_id, "pending")


def item_key(tx_id: str) -> dict[str, Any]:
    return {"transaction_id": {"S": key(tx_id)}}


def write_pending_transaction(stack: LocalStack, tx_id: str, execution_arn: str) -> None:
    """The item RegisterTransaction writes, registered long ago."""
    stack.client("dynamodb").put_item(
        TableName=stack.require_settings().execution_status_table,
        Item={
            "transaction_id": {"S": tx_id}, "status": {"S": "PENDING"}, "started_at": {"S": LONG_AGO},
            "updated_at": {"S": LONG_AGO}, "execution_id": {"S": execution_arn},
        },
    )  # fmt: skip


def sweep_ids(report: dict[str, Any], ids: set[str]) -> dict[str, set[str]]:
    """The outcomes of a sweep for these ids only (other tests' records may be swept beside them)."""
    return {k: set(v) & ids for k, v in report["ids"].items() if set(v) & ids}


# --------------------------------------------------------------------------- the last-resort net


def test_a_batch_execution_failing_outside_its_dead_letter_paths_is_dead_lettered_once_by_the_net(
    clean_queues: LocalStack,
) -> None:
    stack = clean_queues
    s = stack.require_settings()
    event = {"detail": {"bucket": {"name": s.raw_bucket}, "object": {"key": f"incoming/{uuid.uuid4().hex}.ndjson"}}}
    arn = stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.state_machine_arn("batch_ingest"), name=uuid.uuid4().hex, input=json.dumps(event)
    )["executionArn"]
    ended = finished(stack, arn)
    assert ended["status"] == "FAILED" and ended["error"] == "States.Runtime"  # PrepareRun: no $.detail.object.size

    # the runtime plays the rule in the background: the net's letter arrives on its own
    [letter] = wait_until(lambda: letters_of(stack, arn), what="the net's dead letter")
    assert letter.error == "States.Runtime"
    assert letter.failed_state == "LastResortNet"
    assert letter.body["workflow"] == "batch_ingest"
    assert letter.body["execution_input"] == event  # the input, as the execution got it
    assert letter.body["transaction"] is None  # not a transaction: redrive leaves it for a person
    assert "ended FAILED (States.Runtime)" in letter.reason
    if ended.get("cause"):
        assert ended["cause"] not in letter.reason  # the execution's cause (it can quote the input) is not copied
    assert ledger_state(arn, s) == "SENT"

    # EventBridge delivers at least once: the same event again, by the runtime and straight to the handler
    assert stack.status_events is not None
    stack.status_events.poll_once()
    again = ExecutionStatusEvents(stack.client).poll_once()  # a fresh poller has delivered nothing yet
    assert [d.ok for d in again if d.rule == manifest_mod.failed_executions_rule_name(s)].count(True) >= 1
    described = stack.client("stepfunctions").describe_execution(executionArn=arn)
    direct = on_status_change(ExecutionStatusEvents(stack.client).event(described, s.region, s.account_id))
    assert direct["outcome"] == "already_dead_lettered"
    assert len(letters_of(stack, arn)) == 1

    # its run record, had RegisterRun written one, stays PENDING: the sweeper settles it without a 2nd letter
    run_id = ended["name"]
    runs_key = {"run_id": {"S": run_id}}
    stack.client("dynamodb").put_item(
        TableName=s.batch_runs_table,
        Item={**runs_key, "status": {"S": "PENDING"}, "started_at": {"S": LONG_AGO}, "execution_id": {"S": arn},
              "bucket": {"S": s.raw_bucket}, "object_key": {"S": event["detail"]["object"]["key"]}},
    )  # fmt: skip
    first = sweep_ids(sweep().as_dict(), {run_id})
    assert first == {"failed_already_dead_lettered": {run_id}}
    run = status_item(stack, s.batch_runs_table, runs_key)
    assert (run["status"]["S"], run["error_name"]["S"]) == ("FAILED", STUCK)
    assert sweep_ids(sweep().as_dict(), {run_id}) == {}
    assert len(letters_of(stack, arn)) == 1


def test_executions_that_dead_lettered_their_own_input_are_not_dead_lettered_again(
    clean_queues: LocalStack,
) -> None:
    stack = clean_queues
    s = stack.require_settings()
    # the transaction workflow dead-letters a rejected transaction itself and ends in DataValidationError
    tx = seed_tx(item_purchased={**seed_tx()["item_purchased"], "item_id": "mtx_does_not_exist"})
    ended = run_execution(stack, "transaction", {"transaction": tx, "received_at": "2026-11-22T00:00:00Z"})
    assert (ended["status"], ended["error"]) == ("FAILED", "DataValidationError")
    # Express: EventBridge emits no status events for it, and the local rule does not ask for them either
    rule = stack.client("events").describe_rule(Name=manifest_mod.failed_executions_rule_name(s))
    watched = json.loads(rule["EventPattern"])["detail"]["stateMachineArn"]
    assert stack.state_machine_arn("transaction") not in watched
    assert stack.state_machine_arn("batch_ingest") in watched
    # were such an event delivered all the same, the net leaves it
    event = ExecutionStatusEvents(stack.client).event(ended, s.region, s.account_id)
    assert on_status_change(event)["outcome"] == "settled_by_workflow"
    [own] = letters_of_transaction(stack, tx["transactionId"])
    assert own.error == "ItemNotFound" and own.failed_state != "LastResortNet"

    # a batch file that is not JSON: quarantined, the run FAILED, the execution ends in BatchIngestFailed
    key = batch.upload_bytes(stack.client, s, b"\x00\x01 not json at all", name=f"{uuid.uuid4().hex}.ndjson")
    run = batch.wait_for_run(stack.client, s, key, timeout=120)
    assert run["status"] == "FAILED"
    run_arn = str(run["execution_id"])
    assert finished(stack, run_arn)["error"] == "BatchIngestFailed"
    assert stack.status_events is not None
    stack.status_events.poll_once()
    assert letters_of(stack, run_arn) == []
    assert ledger_state(run_arn, s) is None


# --------------------------------------------------------------------------- the sweeper


@pytest.fixture
def blocker() -> Iterator[tuple[str, threading.Event]]:
    """A local function that runs until released: an execution that stays RUNNING while a test looks."""
    name = f"mtx-test-blocker-{uuid.uuid4().hex[:8]}"
    release = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        release.wait(timeout=120)
        return {}

    REGISTRY.register(name, handler)
    try:
        yield name, release
    finally:
        release.set()


def dying_machine(stack: LocalStack, function_name: str) -> str:
    """A workflow that dies after its Task, as a transaction workflow that never reached MarkCompleted or
    its dead-letter path (a Pass on a missing path: States.Runtime, uncaught)."""
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_name, "Payload": {}}, "ResultPath": None, "Next": "Die",
            },
            "Die": {"Type": "Pass", "Parameters": {"missing.$": "$.no_such_field"}, "End": True},
        },
    }  # fmt: skip
    s = stack.require_settings()
    return str(
        stack.client("stepfunctions").create_state_machine(
            name=f"mtx-test-dying-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{s.account_id}:role/test", type="STANDARD",
        )["stateMachineArn"]
    )  # fmt: skip


def compliance_rows(stack: LocalStack, tx_id: str) -> int:
    with psycopg.connect(stack.dsn("compliance")) as conn:
        query = "select count(*) from compliance.transactions where transaction_id = %s"
        row = conn.execute(query, (tx_id,)).fetchone()
        return int(row[0]) if row else 0


def test_the_sweeper_settles_each_pending_transaction_once(
    clean_queues: LocalStack, blocker: tuple[str, threading.Event], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = clean_queues
    s = stack.require_settings()
    table = s.execution_status_table
    sfn = stack.client("stepfunctions")

    # 1. stored, but its MarkCompleted was lost: PENDING with both copies in place
    stored = seed_tx()
    done = run_execution(stack, "transaction", {"transaction": stored, "received_at": "2026-11-22T00:00:00Z"})
    assert done["status"] == "SUCCEEDED"
    write_pending_transaction(stack, key(stored["transactionId"]), done["executionArn"])

    # 2. its execution still runs, then dies without settling it
    dying = seed_tx()
    dying_input = {"transaction": dying, "received_at": "2026-11-22T00:00:00Z", "producer_id": "studio-a"}
    function_name, release = blocker
    dying_arn = sfn.start_execution(
        stateMachineArn=dying_machine(stack, function_name), name=uuid.uuid4().hex, input=json.dumps(dying_input)
    )["executionArn"]
    write_pending_transaction(stack, key(dying["transactionId"]), dying_arn)

    # 3. its execution cannot be described (an Express execution in AWS): a pointer, never a made-up record
    lost_id = seed_tx()["transactionId"]
    lost_arn = stack.state_machine_arn("transaction").replace(":stateMachine:", ":express:") + f":{uuid.uuid4()}"
    write_pending_transaction(stack, key(lost_id), lost_arn)

    # the status items are keyed by message key (<transactionId>/<status>): the report names messages
    ids = {key(stored["transactionId"]), key(dying["transactionId"]), key(lost_id)}
    first = sweep_ids(sweep().as_dict(), ids)
    assert first == {
        "completed": {key(stored["transactionId"])},
        "running": {key(dying["transactionId"])},
        "dead_lettered": {key(lost_id)},
    }
    assert status_item(stack, table, item_key(stored["transactionId"]))["status"]["S"] == "COMPLETED"
    assert status_item(stack, table, item_key(dying["transactionId"]))["status"]["S"] == "PENDING"
    [pointer] = letters_of_transaction(stack, lost_id)
    assert pointer.error == STUCK and pointer.body["transaction"] is None and pointer.body["input_unavailable"]
    assert (pointer.body["registered_at"], pointer.body["execution_id"]) == (LONG_AGO, lost_arn)
    assert pointer.body["message_key"] == key(lost_id)
    assert letters_of_transaction(stack, stored["transactionId"]) == []

    release.set()
    assert finished(stack, dying_arn)["error"] == "States.Runtime"
    second = sweep_ids(sweep().as_dict(), ids)
    assert second == {"dead_lettered": {key(dying["transactionId"])}}
    [letter] = letters_of_transaction(stack, dying["transactionId"])
    assert letter.error == STUCK and letter.failed_state == "PendingSweeper"
    assert letter.body["transaction"] == dying  # the execution's own input: `mtx dlq redrive` can replay it
    assert (letter.body["received_at"], letter.body["producer_id"]) == ("2026-11-22T00:00:00Z", "studio-a")
    assert "States.Runtime" in letter.reason and dying["payment_details"]["card_last4"] not in letter.reason
    item = status_item(stack, table, item_key(dying["transactionId"]))
    assert (item["status"]["S"], item["error_name"]["S"]) == ("FAILED", STUCK)
    assert compliance_rows(stack, dying["transactionId"]) == 0

    # a third sweep, as `mtx sweep`: nothing of these changes, no letter added
    before = {k: status_item(stack, table, {"transaction_id": {"S": k}}) for k in ids}
    capsys.readouterr()  # what the sweeps above printed (their metric lines): only the command's output below
    assert cli.main(["--home", str(stack.home), "sweep"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sweep: ") and not any(k in out for k in ids)
    assert {k: status_item(stack, table, {"transaction_id": {"S": k}}) for k in ids} == before
    tx_ids = sorted(split_message_key(k)[0] for k in ids)
    assert [len(letters_of_transaction(stack, tx_id)) for tx_id in tx_ids] == [
        0 if tx_id == stored["transactionId"] else 1 for tx_id in tx_ids
    ]


def test_scheduled_rules_invoke_their_lambda_at_their_rate(stack: LocalStack) -> None:
    """The sweeper's rule (rate(5 minutes)), run by a runner whose time scale makes 5 minutes 0.6 s."""
    s = stack.require_settings()
    rule = manifest_mod.sweep_pending_rule_name(s)
    runner = ScheduledRules(stack.client, time_scale=0.002, refresh=0.2)
    assert runner.scheduled_rules()[rule]["ScheduleExpression"] == manifest_mod.SWEEP_PENDING_SCHEDULE
    runner.start()
    try:
        wait_until(lambda: len([d for d in runner.deliveries if d.rule == rule]) >= 2, what="two scheduled sweeps")
    finally:
        runner.stop()
    mine = [d for d in runner.deliveries if d.rule == rule]
    assert all(d.ok and d.function == s.function_name("sweep_pending") for d in mine), mine
    # the stack's own runner (time scale 0 in tests) runs a rule when asked
    assert stack.schedules is not None
    [fired] = stack.schedules.fire(rule)
    assert fired.ok
