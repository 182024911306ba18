"""The local "Step Functions Execution Status Change" rules read the interpreter's journal of ended executions
(orchestration/runtime/triggers.py ExecutionStatusEvents, moto_sfn.ENDED) on the real local stack.

A rule of the test's own names a state machine of the test's own and targets a recording function (in a
Lambda registry of the test's own, so the stack's rules' real targets are not invoked again for the
session's executions). Proved here: after its first round, which lists, a poller reads only the journal
(``listings`` stays 1, the rounds' ListExecutions calls are counted); every execution that ended in the
rule's status is delivered once, in AWS's shape, and nothing else; a failed delivery is tried again until
it succeeds; an AWS call failing (DescribeExecution, or reading the rules) loses nothing; when the journal
dropped entries unread, or a rule changed, the poller lists again and delivers only what it had not.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from orchestration.runtime.sfn import LambdaRegistry
from orchestration.runtime.stack import LocalStack
from orchestration.runtime.triggers import ExecutionStatusEvents

pytestmark = pytest.mark.integration

DEFINITION = json.dumps({"StartAt": "Which", "States": {
    "Which": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Bad"}],
              "Default": "Good"},
    "Bad": {"Type": "Fail", "Error": "TestFailure", "Cause": "the test asked"},
    "Good": {"Type": "Succeed"}}})  # fmt: skip


class CountingClients:
    """The stack's clients; counts the poller's ListExecutions pages and fails DescribeExecution or ListRules on
    demand (as a dropped connection to the AWS endpoint does)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.list_calls = 0
        self.fail_describes: set[str] = set()  # executions whose next DescribeExecution fails
        self.fail_rules = 0

    def __call__(self, service: str) -> Any:
        client = self.stack.client(service)
        outer = self
        if service == "events":

            class Events:
                def __getattr__(self, name: str) -> Any:
                    return getattr(client, name)

                def list_rules(self, **kwargs: Any) -> Any:
                    if outer.fail_rules:
                        outer.fail_rules -= 1
                        raise EndpointConnectionError(endpoint_url=client.meta.endpoint_url)
                    return client.list_rules(**kwargs)

            return Events()
        if service != "stepfunctions":
            return client

        class Sfn:
            def __getattr__(self, name: str) -> Any:
                return getattr(client, name)

            def get_paginator(self, name: str) -> Any:
                paginator = client.get_paginator(name)
                return Counted(paginator) if name == "list_executions" else paginator

            def describe_execution(self, **kwargs: Any) -> Any:
                if kwargs.get("executionArn") in outer.fail_describes:
                    outer.fail_describes.discard(kwargs["executionArn"])
                    raise EndpointConnectionError(endpoint_url=client.meta.endpoint_url)
                return client.describe_execution(**kwargs)

        class Counted:
            def __init__(self, paginator: Any) -> None:
                self.paginator = paginator

            def paginate(self, **kwargs: Any) -> Any:
                for page in self.paginator.paginate(**kwargs):
                    outer.list_calls += 1
                    yield page

        return Sfn()


def test_status_rules_read_the_journal_deliver_each_once_and_list_only_when_they_must(stack: LocalStack) -> None:
    s = stack.require_settings()
    sfn, events = stack.client("stepfunctions"), stack.client("events")
    tag = uuid.uuid4().hex[:10]
    machine = sfn.create_state_machine(
        name=f"status-test-{tag}", definition=DEFINITION, roleArn=f"arn:aws:iam::{s.account_id}:role/status-test"
    )["stateMachineArn"]
    rule, function = f"status-test-{tag}", f"status-test-{tag}"
    pattern = {"source": ["aws.states"], "detail-type": [ExecutionStatusEvents.DETAIL_TYPE],
               "detail": {"status": ["FAILED"], "stateMachineArn": [machine]}}  # fmt: skip
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(
        Rule=rule, Targets=[{"Id": "t", "Arn": f"arn:aws:lambda:{s.region}:{s.account_id}:function:{function}"}]
    )

    received: list[dict[str, Any]] = []
    refuse: set[str] = set()  # executions whose next delivery the function fails

    def recorder(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        arn = event["detail"]["executionArn"]
        if arn in refuse:
            refuse.discard(arn)
            raise RuntimeError("the function failed this once")
        received.append(event)
        return {}

    registry = LambdaRegistry()
    registry.register(function, recorder)
    for name in _rule_target_functions(events) - {function}:  # the stack's own rules' targets: not run again
        registry.register(name, lambda event, context: {})

    gaps = [False]

    def ended(cursor: int | None) -> Any:
        if gaps[0] and cursor is not None:
            gaps[0] = False
            return None  # the journal dropped what came after this cursor
        return stack.moto.ended_executions(cursor)

    since, _ = stack.moto.ended_executions(None) or (0, [])
    clients = CountingClients(stack)
    poller = ExecutionStatusEvents(clients, registry=registry, ended=ended)
    try:
        first = _start(sfn, machine, fail=True)  # ended before the poller's first round: found by its listing
        _wait_ended(stack, [first], since)
        poller.poll_once()
        assert poller.listings == 1 and clients.list_calls >= 1
        assert [e["detail"]["executionArn"] for e in received] == [first]

        listed = clients.list_calls
        failed, succeeded, refused = (_start(sfn, machine, fail=f) for f in (True, False, True))
        refuse.add(refused)
        _wait_ended(stack, [failed, succeeded, refused], since)
        poller.poll_once()  # from the journal: the two failures, one of them refused by the function
        assert (poller.listings, clients.list_calls) == (1, listed)
        assert [e["detail"]["executionArn"] for e in received[1:]] == [failed]
        event = received[-1]
        assert (event["source"], event["detail-type"], event["resources"]) == (
            "aws.states", ExecutionStatusEvents.DETAIL_TYPE, [failed]
        )  # fmt: skip
        assert (event["detail"]["status"], event["detail"]["error"]) == ("FAILED", "TestFailure")
        assert (event["detail"]["stateMachineArn"], event["account"], event["region"]) == (
            machine, s.account_id, s.region
        )  # fmt: skip

        poller.poll_once()  # the refused one again, from the poller's own memory (the journal has moved on)
        assert [e["detail"]["executionArn"] for e in received[2:]] == [refused]
        poller.poll_once()
        assert len(received) == 3  # nothing twice

        # DescribeExecution failing: that execution next round, nothing lost
        late = _start(sfn, machine, fail=True)
        _wait_ended(stack, [late], since)
        clients.fail_describes = {late}
        poller.poll_once()
        assert poller.failed_describes == 1 and len(received) == 3
        poller.poll_once()
        assert [e["detail"]["executionArn"] for e in received[3:]] == [late]
        assert (poller.listings, clients.list_calls) == (1, listed)

        # reading the rules failing: the round fails, the next one takes up what it had read of the journal
        poller.refresh = 0.0  # the rules read again every round
        later = _start(sfn, machine, fail=True)
        _wait_ended(stack, [later], since)
        clients.fail_rules = 1
        with pytest.raises(EndpointConnectionError):
            poller.poll_once()
        poller.poll_once()
        assert [e["detail"]["executionArn"] for e in received[4:]] == [later]
        assert (poller.listings, clients.list_calls) == (1, listed)

        # the journal dropped entries this poller had not read: it lists again, and delivers only the new one
        gaps[0] = True
        after_gap = _start(sfn, machine, fail=True)
        _wait_ended(stack, [after_gap], since)
        poller.poll_once()
        assert poller.listings == 2 and clients.list_calls > listed
        assert [e["detail"]["executionArn"] for e in received[5:]] == [after_gap]
        poller.poll_once()
        assert poller.listings == 2 and len(received) == 6
        assert succeeded not in {e["detail"]["executionArn"] for e in received}

        # a rule changed (here: its pattern): the next round lists, so the changed rule misses nothing
        pattern["detail"]["status"] = ["FAILED", "SUCCEEDED"]
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        poller.poll_once()  # reads the rules, sees the change
        poller.poll_once()
        assert poller.listings == 3
        assert succeeded in {e["detail"]["executionArn"] for e in received[6:]}  # ended before the change
        assert len([e for e in received if e["detail"]["executionArn"] == first]) == 1

        # a state machine deleted after its execution ended: the execution is dropped, the rounds go on, and a
        # listing over the rule that still names the deleted machine does not fail either
        gone_machine = sfn.create_state_machine(
            name=f"status-gone-{tag}", definition=DEFINITION, roleArn=f"arn:aws:iam::{s.account_id}:role/status-test"
        )["stateMachineArn"]
        pattern["detail"]["stateMachineArn"] = [machine, gone_machine]
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        poller.poll_once()  # the change: a listing
        gone = _start(sfn, gone_machine, fail=True)
        _wait_ended(stack, [gone], since)
        sfn.delete_state_machine(stateMachineArn=gone_machine)
        listings, count = poller.listings, len(received)
        poller.poll_once()  # from the journal: DescribeExecution says it does not exist
        assert (poller.listings, len(received), poller.failed_describes) == (listings, count, 1)
        gaps[0] = True
        poller.poll_once()  # a listing: ListExecutions of the deleted machine says it does not exist
        assert (poller.listings, len(received)) == (listings + 1, count)
    finally:
        events.remove_targets(Rule=rule, Ids=["t"])
        events.delete_rule(Name=rule)
        sfn.delete_state_machine(stateMachineArn=machine)


def _rule_target_functions(events: Any) -> set[str]:
    names = set()
    for rule in events.list_rules().get("Rules", []):
        for target in events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", []):
            if target["Arn"].startswith("arn:aws:lambda:"):
                names.add(target["Arn"].split(":")[6])
    return names


def _start(sfn: Any, machine: str, fail: bool) -> str:
    return str(
        sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex, input=json.dumps({"fail": fail}))[
            "executionArn"
        ]
    )


def _wait_ended(stack: LocalStack, arns: list[str], since: int, timeout: float = 60.0) -> None:
    """Until the interpreter's journal has them, since the test's start (their status is set a moment before
    they are journalled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = stack.moto.ended_executions(since)
        if got is not None and set(arns) <= {entry[0] for entry in got[1]}:
            return
        time.sleep(0.05)
    raise TimeoutError("the test's executions did not end")
