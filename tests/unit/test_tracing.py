"""Traces and correlated logs of every handler (lambdas/common/tracing.py), and the local X-Ray daemon.

What could fail: a handler of infra/functions.json without the Tracer, the correlation keys or with its
response captured; an unvalidated field taken for an id; correlation keys left on the next invocation's
log lines; the local daemon losing a segment or keeping a segment of an invocation outside its trace.
"""

from __future__ import annotations

import ast
import importlib
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Tracer

from lambdas.common.tracing import correlated, correlation_ids, get_tracer
from orchestration.runtime import xray

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = json.loads((REPO / "infra" / "functions.json").read_text())["functions"]
ARN = "arn:aws:states:eu-west-1:123456789012:express:mtx-dev-transaction:abc:def"


def _decorators(handler_path: str) -> list[str]:
    module, func = handler_path.rsplit(".", 1)
    tree = ast.parse((REPO / (module.replace(".", "/") + ".py")).read_text())
    [fn] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func]
    return [ast.unparse(d) for d in fn.decorator_list]


@pytest.mark.parametrize("short", sorted(FUNCTIONS))
def test_every_function_is_traced_and_correlated_and_captures_no_response(short: str) -> None:
    decorators = _decorators(FUNCTIONS[short]["handler"])
    assert decorators[:3] == [
        "logger.inject_lambda_context(log_event=False)",
        "tracer.capture_lambda_handler(capture_response=False)",
        "correlated(logger, tracer)",
    ], short
    assert decorators[3:] in ([], ["stable_errors"]), short
    module = importlib.import_module(FUNCTIONS[short]["handler"].rsplit(".", 1)[0])
    assert module.tracer.service == short.replace("_", "-") or short == "run_analytics_job"


def test_the_ids_come_from_each_shape_the_functions_receive() -> None:
    assert correlation_ids({"transaction": {"transactionId": "tx-1"}, "execution_id": ARN}) == {
        "transaction_id": "tx-1", "execution_arn": ARN,
    }  # fmt: skip
    assert correlation_ids({"transaction_id": "tx-2", "event_date": "2026-01-01"}) == {"transaction_id": "tx-2"}
    assert correlation_ids({"chunk": {"key": "chunks/x"}, "run_id": "run-7"}) == {"batch_run_id": "run-7"}
    assert correlation_ids({"detail": {"executionArn": ARN, "status": "FAILED"}}) == {"execution_arn": ARN}
    assert correlation_ids({"httpMethod": "GET", "requestContext": {"identity": {"sourceIp": "10.1.2.3"}}}) == {}
    assert correlation_ids(["not", "a", "mapping"]) == {}
    assert "execution_arn" not in correlation_ids({"execution_id": "arn:aws:s3:::not-an-execution"})


@pytest.mark.parametrize("value", ["4111 1111 1111 1111", "a" * 65, "", {"nested": "x"}, 1234, "tx\n1"])
def test_an_unvalidated_value_is_never_taken_for_an_id(value: Any) -> None:
    event = {"transaction": {"transactionId": value}, "run_id": value, "execution_id": value}
    assert correlation_ids(event) == {}


def _handler(logger: Logger) -> Any:
    tracer = get_tracer("tracing-test")

    @tracer.capture_lambda_handler(capture_response=False)
    @correlated(logger, tracer)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.info("working")
        if event.get("fail"):
            raise LookupError("item_id: not in the catalogue")
        return {"record": {"client_ip": "198.51.100.23"}}

    return handler


def test_the_ids_are_on_the_invocations_log_lines_and_gone_after() -> None:
    out = io.StringIO()
    logger = Logger(service=f"tracing-test-{uuid.uuid4().hex[:6]}", stream=out)
    handler = _handler(logger)
    handler({"transaction_id": "tx-9", "run_id": "run-3"}, None)
    logger.info("between invocations")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (lines[0]["message"], lines[0]["transaction_id"], lines[0]["batch_run_id"]) == ("working", "tx-9", "run-3")
    assert "transaction_id" not in lines[1] and "batch_run_id" not in lines[1]


def test_an_invocation_is_traced_through_the_local_daemon_with_its_ids_and_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(xray.ADDRESS_ENV, raising=False)
    logger = Logger(service=f"tracing-test-{uuid.uuid4().hex[:6]}", stream=io.StringIO())
    handler = _handler(logger)
    handler({"transaction_id": "outside"}, None)  # no invocation: nothing recorded
    daemon = xray.start(tmp_path)
    try:
        with xray.invocation("mtx-test-fn"):
            handler({"transaction_id": "tx-ok"}, None)
        with pytest.raises(LookupError), xray.invocation("mtx-test-fn"):
            handler({"transaction_id": "tx-bad", "fail": True}, None)
        path = xray.segments_file(tmp_path)
        deadline = time.monotonic() + 10
        while len(xray.read(path)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        xray.stop()
    assert daemon.path == path
    documents = xray.read(path)
    functions = {d["trace_id"]: d for d in documents if d.get("origin") == "AWS::Lambda::Function"}
    handlers = [d for d in documents if d.get("name") == "## handler"]
    assert len(functions) == 2 and len(handlers) == 2
    outcomes = {}
    for sub in handlers:
        parent = functions[sub["trace_id"]]
        assert sub["parent_id"] == parent["id"]  # under the function segment the runtime opened
        outcomes[sub["annotations"]["transaction_id"]] = (sub["annotations"]["outcome"], parent["fault"])
    assert outcomes == {"tx-ok": ("ok", False), "tx-bad": ("LookupError", True)}
    text = path.read_text()
    assert "198.51.100.23" not in text and "outside" not in text  # no response captured, nothing outside


def test_terraform_traces_the_api_stage_the_state_machines_and_every_function() -> None:
    from tests.hcl_helpers import MODULES, resource, unquote

    assert resource(MODULES / "api", "aws_api_gateway_stage")["xray_tracing_enabled"] is True
    assert resource(MODULES / "state_machines", "aws_sfn_state_machine")["tracing_configuration"][0]["enabled"] is True
    function = resource(MODULES / "lambda", "aws_lambda_function")
    assert function["for_each"] == "${local.functions}"  # every function of infra/functions.json
    assert unquote(function["tracing_config"][0]["mode"]) == "Active"
    # the functions' roles may send traces and nothing more of X-Ray (Active mode samples upstream)
    [policy] = [b for t, n, b in _data_blocks(MODULES / "lambda") if t == "aws_iam_policy_document" and n == "this"]
    [traces] = [s for s in policy["statement"] if unquote(s.get("sid", "")) == "SendTraces"]
    assert sorted(unquote(a) for a in traces["actions"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def _data_blocks(directory: Path) -> list[tuple[str, str, dict[str, Any]]]:
    from tests.hcl_helpers import blocks

    return blocks(directory, "data")


def test_a_recorded_exception_keeps_its_class_and_stack_never_its_text() -> None:
    """An AWS or database error message can quote a record's value: traces get the class name only."""
    import traceback

    from aws_xray_sdk.core.models.segment import Segment

    import lambdas.common.tracing  # noqa: F401 - installs the named-only exception record

    segment = Segment("canary")
    try:
        raise ValueError("denied for 203.0.113.9 card 4111111111111111")
    except ValueError as exc:
        segment.add_exception(exc, traceback.extract_stack())
    text = segment.serialize()
    assert "203.0.113.9" not in text and "4111111111111111" not in text
    assert '"ValueError"' in text and "test_tracing.py" in text


def test_a_process_of_many_handlers_sets_the_recorder_once_and_still_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each handler module makes its Tracer; X-Ray's recorder is the process's. Configuring it again built a new
    X-Ray client each time (~0.1 s of CPU, 23 times at every local start): only the first enabled Tracer sets it,
    and every subsegment is still sent on its own (streaming threshold 0)."""
    from aws_xray_sdk.core import xray_recorder

    from lambdas.common import tracing

    calls: list[dict[str, Any]] = []
    real = xray_recorder.configure
    monkeypatch.setattr(xray_recorder, "configure", lambda **kw: calls.append(kw) or real(**kw))
    monkeypatch.setattr(tracing._Tracer, "_streaming_set", False)
    monkeypatch.setattr(xray_recorder.streaming, "streaming_threshold", 30)  # the SDK's default
    # outside Lambda the Tracer is off and sets nothing, so a Tracer in Lambda still sets it (Powertools keeps
    # "off" for the process once a Tracer was off: a fresh config stands for the next process)
    from aws_xray_sdk import global_sdk_config

    monkeypatch.setattr(Tracer, "_config", dict(Tracer._default_config))
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    # a Tracer that is off switches the X-Ray SDK off for the process, unless this variable says on: the tests
    # after this one trace
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "true")
    assert tracing.get_tracer("off").disabled and calls == []
    assert global_sdk_config.sdk_enabled()
    monkeypatch.setattr(Tracer, "_config", dict(Tracer._default_config))
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(REPO))
    tracers = [tracing.get_tracer(f"fn-{i}") for i in range(5)]
    assert calls == [{"streaming_threshold": 0}]
    assert xray_recorder.streaming.streaming_threshold == 0
    assert all(not t.disabled for t in tracers) and [t.service for t in tracers][-1] == "fn-4"
