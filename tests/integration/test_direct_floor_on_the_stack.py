"""The per-transaction benchmark's floor (the handlers called directly) does the workflow's work: the same
handlers, each once, and the same outputs (benchmarks/transaction_workflow.py ``_direct``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks.transaction_workflow import DIRECT_FUNCTIONS, _direct
from orchestration.runtime.sfn import REGISTRY
from orchestration.runtime.stack import LocalStack
from tests.helpers import run_execution, seed_tx

pytestmark = pytest.mark.integration

RECEIVED_AT = "2026-11-22T00:00:00Z"


def _analytics_object(stack: LocalStack, tx: dict[str, Any]) -> dict[str, Any]:
    key = f"transactions/dt={tx['event_timestamp'][:10]}/{tx['transactionId']}.json"
    body = stack.client("s3").get_object(Bucket=stack.require_settings().analytics_bucket, Key=key)["Body"]
    return dict(json.loads(body.read()))


def _shape(value: Any) -> Any:
    """The field names, nested (the values differ: ids, times)."""
    return {k: _shape(v) for k, v in value.items()} if isinstance(value, dict) else type(value).__name__


def test_the_direct_floor_calls_each_handler_of_the_workflow_once_and_writes_the_same_copy(stack: LocalStack) -> None:
    s = stack.require_settings()
    by_workflow, direct = seed_tx(), seed_tx()
    assert (
        run_execution(stack, "transaction", {"transaction": by_workflow, "received_at": RECEIVED_AT})["status"]
        == "SUCCEEDED"
    )

    before = dict(REGISTRY.invocations)
    _direct(stack, json.dumps(direct), RECEIVED_AT, 1)
    calls = {k: v - before.get(k, 0) for k, v in REGISTRY.invocations.items() if v - before.get(k, 0)}
    assert calls == {s.function_name(short): 1 for short in DIRECT_FUNCTIONS}

    workflow_copy, direct_copy = _analytics_object(stack, by_workflow), _analytics_object(stack, direct)
    assert _shape(direct_copy) == _shape(workflow_copy)
