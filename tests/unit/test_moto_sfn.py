"""moto's Step Functions executions found by name and ARN from an index (orchestration/runtime/moto_sfn.py):
the same answers and errors as moto's scans, and StartExecution / DescribeExecution / StopExecution no longer
walk every execution the state machine ran."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orchestration.runtime.moto_sfn import IndexedExecutions, patch_moto_sfn_executions
from tests.helpers import moto_sfn_execution

pytestmark = pytest.mark.unit

DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Any:
    patch_moto_sfn_executions()
    # moto's own backend, which leaves executions RUNNING (the local runtime turns the executing one on)
    moto_sfn_execution(monkeypatch, on=False)
    with mock_aws():
        client = boto3.client("stepfunctions", region_name="eu-west-1")
        arn = client.create_state_machine(name="m", definition=DEFINITION, roleArn="arn:aws:iam::123456789012:role/r")[
            "stateMachineArn"
        ]
        yield client, arn


def _start(sfn: Any, name: str, payload: str = "{}") -> str:
    client, arn = sfn
    return str(client.start_execution(stateMachineArn=arn, name=name, input=payload)["executionArn"])


class Walked(IndexedExecutions):
    """The executions, counting every walk over them."""

    walks = 0

    def __iter__(self) -> Any:
        Walked.walks += 1
        return super().__iter__()


def test_lookups_read_the_index_not_the_list(sfn: Any) -> None:
    client, arn = sfn
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.stepfunctions.models import stepfunctions_backends

    machine = stepfunctions_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].describe_state_machine(arn)
    machine.executions = Walked(machine.executions)
    started = [_start(sfn, f"run-{i}", json.dumps({"i": i})) for i in range(30)]
    described = client.describe_execution(executionArn=started[17])
    assert (described["name"], json.loads(described["input"])) == ("run-17", {"i": 17})
    fresh = _start(sfn, "run-new")  # the name's idempotency check, no scan
    assert client.describe_execution(executionArn=fresh)["name"] == "run-new"
    client.stop_execution(executionArn=started[3])
    assert client.describe_execution(executionArn=started[3])["status"] == "ABORTED"
    assert Walked.walks == 0
    listed = [e["executionArn"] for e in client.list_executions(stateMachineArn=arn)["executions"]]
    assert sorted(listed) == sorted([*started, fresh])


def test_same_errors_as_moto(sfn: Any) -> None:
    client, _arn = sfn
    first = _start(sfn, "dup", '{"a": 1}')
    assert _start(sfn, "dup", '{"a": 1}') == first  # same name, same input, still running: the same execution
    with pytest.raises(ClientError) as other_input:
        _start(sfn, "dup", '{"a": 2}')
    assert other_input.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    client.stop_execution(executionArn=first)
    with pytest.raises(ClientError) as ended:
        _start(sfn, "dup", '{"a": 1}')  # the name of an execution that ended
    assert ended.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    missing = first.replace(":dup", ":nobody")
    for call in (client.describe_execution, client.stop_execution):
        with pytest.raises(ClientError) as unknown:
            call(executionArn=missing)
        assert unknown.value.response["Error"]["Code"] == "ExecutionDoesNotExist"


def test_each_json_path_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interpreter's JSONPath extraction builds jsonpath_ng's parser once per path text, not per
    evaluation, and still reads each evaluation's own data."""
    import jsonpath_ng._ply.yacc as ply_yacc

    from orchestration.runtime.moto_sfn import patch_moto_sfn_json_paths

    patch_moto_sfn_json_paths()
    from moto.stepfunctions.parser.asl.utils.json_path import extract_json

    built = []
    original = ply_yacc.yacc

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(ply_yacc, "yacc", counting)
    path = "$.transaction.item_purchased.item_id"
    values = [extract_json(path, {"transaction": {"item_purchased": {"item_id": f"i-{n}"}}}) for n in range(5)]
    assert values == [f"i-{n}" for n in range(5)]
    assert extract_json("$.other[0]", {"other": ["x", "y"]}) == "x"  # another text: parsed (once)
    assert len(built) <= 2


def test_json_copy_is_an_independent_deep_copy_and_hands_other_types_to_deepcopy() -> None:
    import datetime as dt

    from orchestration.runtime.moto_sfn import json_copy

    when = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    value = {"a": [1, 2.5, {"b": None, "c": True}], "s": "x", "when": when, "t": (1, [2])}
    copied = json_copy(value)
    assert copied == value
    copied["a"][2]["b"] = "changed"
    copied["t"][1].append(3)
    assert value["a"][2]["b"] is None and value["t"] == (1, [2])  # nested dicts, lists and tuples are new
    assert copied["a"] is not value["a"] and copied["a"][2] is not value["a"][2]


def test_the_interpreter_copies_state_data_with_json_copy() -> None:
    """The modules that deep-copied the JSON passed between states now call json_copy (and only those)."""
    import importlib

    from orchestration.runtime.moto_sfn import _JSON_COPYING_MODULES, json_copy, patch_moto_sfn_copies

    patch_moto_sfn_copies()
    for name in _JSON_COPYING_MODULES:
        assert importlib.import_module(name).copy.deepcopy is json_copy, name
    from moto.stepfunctions.parser.asl.eval.environment import copy as environment_copy

    assert environment_copy.deepcopy is not json_copy  # program states are objects: moto's deepcopy


def test_the_interpreter_keeps_no_thread_once_an_execution_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto appended every thread its interpreter started to a global list nobody cleared (~23 KB an execution
    of the transaction workflow). Executions of a Task-free three-state machine still run to their end, and no
    thread object outlives them."""
    import gc
    import importlib
    import threading
    import time

    from orchestration.runtime.moto_sfn import _THREAD_LISTING_MODULES, patch_moto_sfn_threads

    patch_moto_sfn_threads()
    moto_sfn_execution(monkeypatch, on=True)
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
                                                        "B": {"Type": "Wait", "Seconds": 0, "Next": "C"},
                                                        "C": {"Type": "Succeed"}}})  # fmt: skip

    def threads() -> int:  # the local runtime's kept execution threads (sfn._ExecutionThreads) aside
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, threading.Thread) and o.name != "mtx-sfn-execution")

    with mock_aws():
        client = boto3.client("stepfunctions", region_name="eu-west-1")
        arn = client.create_state_machine(name="t", definition=definition, roleArn="arn:aws:iam::123456789012:role/r")[
            "stateMachineArn"
        ]
        before = threads()
        started = [client.start_execution(stateMachineArn=arn, name=f"e{i}")["executionArn"] for i in range(30)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses = {client.describe_execution(executionArn=e)["status"] for e in started}
            if "RUNNING" not in statuses:
                break
            time.sleep(0.05)
        assert statuses == {"SUCCEEDED"}
        deadline = time.monotonic() + 10
        while threads() > before + 5 and time.monotonic() < deadline:  # the last threads finishing
            time.sleep(0.05)
        assert threads() <= before + 5  # 30 executions started at least 30 threads: none kept
    for name in _THREAD_LISTING_MODULES:
        assert len(importlib.import_module(name).TMP_THREADS) == 0, name


def test_the_ended_journal_gives_what_came_after_a_cursor_and_says_when_it_dropped_some() -> None:
    from orchestration.runtime.moto_sfn import EndedExecutions

    journal = EndedExecutions(keep=3)
    start, nothing = journal.since(None)
    assert (start, nothing) == (0, [])
    assert journal.since(start) == (0, [])
    journal.record("e0", "m", "FAILED")
    journal.record("e1", "m", "SUCCEEDED")
    cursor, got = journal.since(start)  # type: ignore[misc]
    assert (cursor, got) == (2, [("e0", "m", "FAILED"), ("e1", "m", "SUCCEEDED")])
    assert journal.since(cursor) == (2, [])
    journal.record("e2", "n", "ABORTED")
    assert journal.since(cursor) == (3, [("e2", "n", "ABORTED")])
    journal.record("e3", "n", "TIMED_OUT")  # keeps 3: e0 is dropped
    assert journal.since(0) is None  # a reader at e0 lost it: it is told, not handed a gap
    assert journal.since(1) == (4, [("e1", "m", "SUCCEEDED"), ("e2", "n", "ABORTED"), ("e3", "n", "TIMED_OUT")])
    assert journal.since(5) is None  # not a cursor this journal gave out (another process's, a restart)
    assert journal.since(-1) is None


def test_every_execution_the_interpreter_ends_is_journalled_with_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """Succeeded, failed, stopped and timed-out executions of moto's interpreter each appear once in ``ENDED``,
    after their status is set (the rule player describes them when it reads the entry); a running one does not."""
    import time

    from orchestration.runtime import sfn as local_sfn
    from orchestration.runtime.moto_sfn import ENDED, patch_moto_sfn_end_journal

    patch_moto_sfn_end_journal()
    moto_sfn_execution(monkeypatch, on=True)
    monkeypatch.setattr(local_sfn, "_time_scale", 1.0)  # Wait states wait (a local stack of this run scaled them)
    definition = json.dumps({"StartAt": "Which", "States": {
        "Which": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Bad"},
                                                {"Variable": "$.wait", "BooleanEquals": True, "Next": "Long"}],
                  "Default": "Good"},
        "Long": {"Type": "Wait", "Seconds": 30, "Next": "Good"},
        "Bad": {"Type": "Fail", "Error": "Nope", "Cause": "a test"},
        "Good": {"Type": "Succeed"}}})  # fmt: skip
    with mock_aws():
        client = boto3.client("stepfunctions", region_name="eu-west-1")
        arn = client.create_state_machine(name="j", definition=definition, roleArn="arn:aws:iam::123456789012:role/r")[
            "stateMachineArn"
        ]
        timing_out = client.create_state_machine(
            name="j-timeout", roleArn="arn:aws:iam::123456789012:role/r",
            definition=json.dumps({"TimeoutSeconds": 1, "StartAt": "Long",
                                   "States": {"Long": {"Type": "Wait", "Seconds": 30, "End": True}}}),
        )["stateMachineArn"]  # fmt: skip
        cursor, _ = ENDED.since(None)  # type: ignore[misc]
        timed_out = client.start_execution(stateMachineArn=timing_out, name="slow")["executionArn"]
        go, fail, wait = {"fail": False, "wait": False}, {"fail": True, "wait": False}, {"fail": False, "wait": True}
        inputs = {"ok": go, "bad": fail, "stopped": wait, "running": wait}
        started = {
            name: client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))["executionArn"]
            for name, payload in inputs.items()
        }

        def waiting(execution: str) -> bool:
            events = client.get_execution_history(executionArn=execution)["events"]
            return any(e["type"] == "WaitStateEntered" for e in events)

        deadline = time.monotonic() + 30
        while not waiting(started["stopped"]) and time.monotonic() < deadline:  # moto cannot stop it sooner
            time.sleep(0.05)
        client.stop_execution(executionArn=started["stopped"])
        expected = {started["ok"]: "SUCCEEDED", started["bad"]: "FAILED", started["stopped"]: "ABORTED"}
        deadline = time.monotonic() + 30
        seen: list[tuple[str, str, str]] = []
        while time.monotonic() < deadline:
            got = ENDED.since(cursor)
            assert got is not None
            seen = [e for e in got[1] if e[1] in (arn, timing_out)]
            if len(seen) >= 4:
                break
            time.sleep(0.05)
        expected_entries = [(e, arn, status) for e, status in expected.items()]
        assert sorted(seen) == sorted([*expected_entries, (timed_out, timing_out, "TIMED_OUT")])
        for execution, _machine, status in seen:
            assert client.describe_execution(executionArn=execution)["status"] == status
        assert client.describe_execution(executionArn=started["running"])["status"] == "RUNNING"
        client.stop_execution(executionArn=started["running"])
