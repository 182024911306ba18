"""The pure parts of the last-resort net, the sweeper and the local rule runners."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from lambdas.common.execution_dead_letters import (
    ENDED_BADLY,
    SETTLED_FAILS,
    UNSETTLED_FAILS,
    execution_letter,
    execution_of,
    parse_time,
    workflow_of,
)
from lambdas.dead_letter_failed_execution.handler import error_name, on_status_change, reason
from orchestration.cli.commands import sweep_lines
from orchestration.runtime import manifest as manifest_mod
from orchestration.runtime.sfn import STATE_MACHINES_DIR
from orchestration.runtime.triggers import ExecutionStatusEvents, rate_seconds
from orchestration.settings import Settings

pytestmark = pytest.mark.unit
S = Settings(name_prefix="mtx-unit")


def fail_errors(workflow: str) -> set[str]:
    """Every Fail state's Error in a workflow's ASL file, at any depth."""
    found: set[str] = set()

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            if state.get("Type") == "Fail":
                found.add(state["Error"])
            for branch in state.get("Branches", []):
                walk(branch["States"])
            for key in ("ItemProcessor", "Iterator"):
                if key in state:
                    walk(state[key]["States"])

    walk(json.loads((STATE_MACHINES_DIR / f"{workflow}.asl.json").read_text())["States"])
    return found


def test_every_fail_state_of_every_workflow_is_classified_settled_or_not() -> None:
    assert set(SETTLED_FAILS) == set(manifest_mod.WORKFLOWS)
    for workflow in manifest_mod.WORKFLOWS:
        settled, unsettled = SETTLED_FAILS[workflow], UNSETTLED_FAILS.get(workflow, frozenset())
        assert not settled & unsettled
        assert fail_errors(workflow) == settled | unsettled, workflow
    # the Fail states reached after the transaction was put on the dead-letter queue are the ones the net
    # leaves alone (it would dead-letter the transaction a second time otherwise)
    states = json.loads((STATE_MACHINES_DIR / "transaction.asl.json").read_text())["States"]
    after_dlq, todo = set(), [states["NotifyFailure"]["Next"], *(c["Next"] for c in states["NotifyFailure"]["Catch"])]
    while todo:  # every Fail reachable from the alert that follows the dead letter
        name = todo.pop()
        state = states[name]
        if state["Type"] == "Fail":
            after_dlq.add(state["Error"])
        todo += [c["Next"] for c in state.get("Choices", [])] + [state[k] for k in ("Default", "Next") if k in state]
    assert after_dlq == SETTLED_FAILS["transaction"] == {"DataValidationError", "TransactionNotStored"}


def test_only_the_contract_and_catalogue_rejects_end_in_data_validation_error() -> None:
    """The alarm never pages on DataValidationError (modules/monitoring reject_error_names): only a reject
    by design may end there; a valid transaction out of retries ends in TransactionNotStored, which pages."""
    from contracts import InvalidTransaction
    from lambdas.common.errors import REJECTIONS, ItemNotFound, ItemNotPurchasable, LifecycleMoveRefused, PriceMismatch

    choice = json.loads((STATE_MACHINES_DIR / "transaction.asl.json").read_text())["States"]["WasItRejected"]
    [rejects] = choice["Choices"]
    assert rejects["Next"] == "DataValidationError" and choice["Default"] == "TransactionNotStored"
    names = {c["StringEquals"] for c in rejects["Or"]}
    rejections = (InvalidTransaction, ItemNotFound, ItemNotPurchasable, PriceMismatch, LifecycleMoveRefused)
    assert names == {e.__name__ for e in rejections} == set(REJECTIONS)


def test_each_rejection_is_raised_and_caught_by_name_on_the_dead_letter_path() -> None:
    """No ok/error result rebuilt with Choice + Pass: the function raises the rejection, its state's Catch
    names it and goes where every failure of that state goes (the dead-letter path, the error attached)."""
    states = json.loads((STATE_MACHINES_DIR / "transaction.asl.json").read_text())["States"]
    raised_by = {"ValidateTransaction": {"InvalidTransaction"},
                 "CheckItemInShop": {"ItemNotFound", "ItemNotPurchasable", "PriceMismatch"},
                 "StoreComplianceRecord": {"LifecycleMoveRefused"}}  # fmt: skip
    for name, errors in raised_by.items():
        catches = states[name]["Catch"]
        [named] = [c for c in catches if set(c["ErrorEquals"]) == errors]
        [rest] = [c for c in catches if c["ErrorEquals"] == ["States.ALL"]]
        assert (named["Next"], named["ResultPath"]) == (rest["Next"], rest["ResultPath"]) == (
            rest["Next"], "$.error"), name  # fmt: skip
        assert states[name]["Next"] not in states or states[states[name]["Next"]]["Type"] != "Choice", name
    variables = [c.get("Variable", "") for s in states.values() if s["Type"] == "Choice" for c in s["Choices"]]
    assert not [v for v in variables if v.endswith((".ok", ".error"))]  # no branching on a returned verdict


def test_the_net_watches_the_standard_workflows_only() -> None:
    arns = [S.state_machine_arn(w) for w, kind in manifest_mod.WORKFLOWS.items() if kind == "STANDARD"]
    pattern = manifest_mod.failed_executions_pattern(arns)
    assert pattern["detail"]["status"] == list(ENDED_BADLY)
    assert S.state_machine_arn("transaction") not in pattern["detail"]["stateMachineArn"]
    assert pattern["source"] == ["aws.states"]


def test_workflow_and_state_machine_of_an_execution() -> None:
    machine = S.state_machine_arn("batch_ingest")
    execution = machine.replace(":stateMachine:", ":execution:") + ":run-1"
    express = S.state_machine_arn("transaction").replace(":stateMachine:", ":express:") + ":a:b"
    assert execution_of(execution) == machine
    assert execution_of(express) == S.state_machine_arn("transaction")
    assert workflow_of(machine, S) == "batch_ingest"
    assert workflow_of(S.state_machine_arn("transaction"), S) == "transaction"
    assert workflow_of(Settings(name_prefix="other").state_machine_arn("batch_ingest"), S) is None


def test_events_that_are_not_a_bad_end_of_our_workflows_are_ignored() -> None:
    ours = S.state_machine_arn("batch_ingest")
    arn = ours.replace(":stateMachine:", ":execution:") + ":x"
    theirs = Settings(name_prefix="someone-else").state_machine_arn("batch_ingest")
    event = {"detail": {"executionArn": arn, "stateMachineArn": theirs, "status": "FAILED"}}
    assert on_status_change(event, settings=S) == {"execution_arn": arn, "outcome": "ignored"}
    for status in ("SUCCEEDED", "RUNNING"):
        event = {"detail": {"executionArn": arn, "stateMachineArn": ours, "status": status}}
        assert on_status_change(event, settings=S)["outcome"] == "ignored"
    settled = {"executionArn": arn, "stateMachineArn": ours, "status": "FAILED", "error": "BatchIngestFailed"}
    assert on_status_change({"detail": settled}, settings=S)["outcome"] == "settled_by_workflow"


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        ("FAILED", "States.Runtime", "States.Runtime"),
        ("FAILED", None, "ExecutionFailed"),
        ("TIMED_OUT", None, "States.Timeout"),
        ("ABORTED", None, "ExecutionAborted"),
        ("ABORTED", "OperatorStopped", "OperatorStopped"),
    ],
)
def test_the_error_a_net_letter_carries(status: str, error: str | None, expected: str) -> None:
    assert error_name(status, error) == expected
    assert expected in reason("batch_ingest", status, expected) and status in reason("batch_ingest", status, expected)


def test_a_transaction_input_is_dead_lettered_in_the_shape_redrive_replays() -> None:
    tx = {"transactionId": "tx-1", "payment_details": {"card_last4": "1234"}, "client_ip": "10.0.0.1"}
    arn = "arn:aws:states:us-east-1:123456789012:express:mtx-unit-transaction:a:b"
    letter = execution_letter(
        "transaction", arn, "Stuck", "stayed PENDING", {"transaction": tx, "received_at": "r", "producer_id": "p"},
        "PendingSweeper",
    )  # fmt: skip
    assert letter["transaction"] == tx and letter["transaction_id"] == "tx-1"
    assert (letter["received_at"], letter["producer_id"], letter["execution_id"]) == ("r", "p", arn)
    assert (
        letter["error"]["Error"] == "Stuck" and json.loads(letter["error"]["Cause"])["errorMessage"] == "stayed PENDING"
    )
    assert "execution_input" not in letter and "input_unavailable" not in letter


def test_another_workflows_input_is_kept_apart_from_transactions() -> None:
    event = {"detail": {"bucket": {"name": "b"}, "object": {"key": "incoming/f"}}}
    letter = execution_letter("batch_ingest", "arn:x", "States.Runtime", "r", event, "LastResortNet")
    assert letter["transaction"] is None and letter["transaction_id"] is None
    assert letter["execution_input"] == event


def test_without_the_input_a_pointer_is_sent_never_a_made_up_record() -> None:
    pointer = {"transaction_id": "tx-9", "registered_at": "2026-12-04T10:00:00Z"}
    letter = execution_letter("transaction", "arn:y", "Stuck", "r", None, "PendingSweeper", pointer)
    assert letter["transaction"] is None and letter["input_unavailable"] is True
    assert (letter["transaction_id"], letter["registered_at"], letter["execution_id"]) == (
        "tx-9",
        pointer["registered_at"],
        "arn:y",
    )


def test_times_are_read_from_either_form() -> None:
    aware = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
    assert parse_time("2026-12-04T10:00:00Z") == aware
    assert parse_time("2026-12-04T10:00:00.000+00:00") == aware
    assert parse_time(aware.timestamp() * 1000) == aware
    assert parse_time("") is None and parse_time("not a time") is None


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(5 minutes)", 300), ("rate(1 minute)", 60), ("rate(2 hours)", 7200), ("rate(1 day)", 86400),
     ("cron(0 3 * * ? *)", None), ("rate(five minutes)", None)],
)  # fmt: skip
def test_rate_expressions(expression: str, seconds: int | None) -> None:
    assert rate_seconds(expression) == seconds


def test_the_status_change_event_has_the_shape_aws_documents() -> None:
    start, stop = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC), dt.datetime(2026, 12, 4, 10, 1, tzinfo=dt.UTC)
    described = {
        "executionArn": "arn:e", "stateMachineArn": "arn:m", "name": "n", "status": "FAILED", "startDate": start,
        "stopDate": stop, "input": "{}", "error": "States.Runtime", "cause": "c",
    }  # fmt: skip
    event = ExecutionStatusEvents(lambda service: None).event(described, "eu-west-1", "123456789012")
    assert (event["source"], event["detail-type"]) == ("aws.states", "Step Functions Execution Status Change")
    assert (event["region"], event["account"], event["resources"], event["time"]) == (
        "eu-west-1", "123456789012", ["arn:e"], "2026-12-04T10:01:00Z",
    )  # fmt: skip
    detail = event["detail"]
    assert (detail["startDate"], detail["stopDate"]) == (int(start.timestamp() * 1000), int(stop.timestamp() * 1000))
    assert (detail["status"], detail["error"], detail["inputDetails"]) == (
        "FAILED",
        "States.Runtime",
        {"included": True},
    )


def test_sweep_lines_print_counts_and_ids() -> None:
    lines = sweep_lines({"counts": {"completed": 1, "dead_lettered": 2},
                         "ids": {"completed": ["a"], "dead_lettered": ["b", "c"]}})  # fmt: skip
    assert lines == ["sweep: completed 1, dead_lettered 2", "  completed: a", "  dead_lettered: b c"]
    assert sweep_lines({"counts": {}, "ids": {}}) == ["sweep: nothing PENDING past the age"]
