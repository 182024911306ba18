"""``wait_for`` (orchestration/runtime/ingest.py), the senders' wait for their executions: each execution that
ended is described once, and while many are pending a sweep lists the running ones instead of describing each
(describing every pending execution every sweep was O(pending) calls a sweep, served by the local moto on the
same core as the executions it waited for). Against moto in-process, with call counts from botocore's events."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestration.runtime import ingest
from orchestration.runtime.ingest import state_machine_of, wait_for
from tests.helpers import moto_sfn_execution

pytestmark = pytest.mark.unit

WAITS = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}


@pytest.fixture(autouse=True)
def not_executed(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto runs no execution (a local stack started earlier in this process turned real execution on, and may
    scale waits to nothing): each stays RUNNING until stopped."""
    moto_sfn_execution(monkeypatch, on=False)


def _machine(sfn: Any, name: str) -> str:
    return str(
        sfn.create_state_machine(name=name, definition=json.dumps(WAITS), roleArn="arn:aws:iam::123456789012:role/sfn")[
            "stateMachineArn"
        ]
    )


def test_each_ended_execution_is_described_once_and_the_running_are_listed(fake_aws_env: None) -> None:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machines = [_machine(sfn, "one"), _machine(sfn, "two")]
        arns = [sfn.start_execution(stateMachineArn=m, name=f"e{i}")["executionArn"]
                for i in range(15) for m in machines]  # fmt: skip
        stopped = arns[:7]
        for arn in stopped:
            sfn.stop_execution(executionArn=arn)
        calls: Counter[str] = Counter()
        sfn.meta.events.register("before-call.sfn.*", lambda model, **_: calls.update([model.name]))

        out = wait_for(lambda service: sfn, arns, timeout=0.5, poll=0.01)

        assert sorted(out.failed) == sorted(stopped)  # ABORTED
        assert sorted(out.running) == sorted(arns[7:])
        assert calls["DescribeExecution"] == len(stopped)  # the running ones never described
        assert calls["ListExecutions"] >= 2 * 2  # two machines, at least two sweeps


def test_a_few_pending_executions_are_described_directly(fake_aws_env: None) -> None:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = _machine(sfn, "few")
        arns = [sfn.start_execution(stateMachineArn=machine, name=f"f{i}")["executionArn"] for i in range(2)]
        sfn.stop_execution(executionArn=arns[0])
        calls: Counter[str] = Counter()
        sfn.meta.events.register("before-call.sfn.*", lambda model, **_: calls.update([model.name]))
        out = wait_for(lambda service: sfn, arns, timeout=0.2, poll=0.01)
        assert (out.failed, out.running) == ([arns[0]], [arns[1]])
        assert calls["ListExecutions"] == 0


def test_the_state_machine_of_an_execution() -> None:
    arn = "arn:aws:states:eu-west-1:123456789012:execution:mtx-dev-transaction:tx-1"
    assert state_machine_of(arn) == "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction"


def test_a_short_listing_costs_calls_not_answers(fake_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy machine runs more executions than a sweep lists: the pending ones not listed are described."""
    monkeypatch.setattr(ingest, "_LIST_MIN", 3)
    monkeypatch.setattr(ingest, "_LIST_PER_PENDING", 0)
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = _machine(sfn, "busy")
        others = [sfn.start_execution(stateMachineArn=machine, name=f"o{i}")["executionArn"] for i in range(10)]
        mine = [sfn.start_execution(stateMachineArn=machine, name=f"m{i}")["executionArn"] for i in range(8)]
        for arn in mine[:3]:
            sfn.stop_execution(executionArn=arn)
        out = wait_for(lambda service: sfn, mine, timeout=0.3, poll=0.01)
        assert sorted(out.failed) == sorted(mine[:3])
        assert sorted(out.running) == sorted(mine[3:])
        assert not set(others) & set(out.running)
