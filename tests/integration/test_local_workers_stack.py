"""The stack runs ProcessChunk in a worker process when MTX_LOCAL_WORKER_PROCESSES is set, and in place when not,
with the same outcome: the deployed handler does not know (orchestration/runtime/local_workers.py wraps it)."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest

from lambdas.process_chunk import handler as process_chunk
from orchestration.runtime import local_workers, sfn
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate

pytestmark = pytest.mark.integration


def test_process_chunk_in_a_worker_process_then_in_place(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    s = stack.require_settings()
    name = s.function_name("process_chunk")
    assert getattr(sfn.REGISTRY.resolve(name), "__wrapped_for_workers__", None) is process_chunk.handler
    records = list(generate(20, seed=11, invalid_share=0.0, duplicate_share=0.0))
    key = f"incoming/chunks/worker-{uuid.uuid4().hex}.ndjson"
    stack.client("s3").put_object(Bucket=s.raw_bucket, Key=key, Body="\n".join(r.line for r in records).encode())
    event = {"chunk": {"bucket": s.raw_bucket, "key": key, "index": 0, "first_record": 1}, "run_id": uuid.uuid4().hex}
    local_workers.shutdown()

    monkeypatch.setenv(local_workers.ENV, "1")
    try:
        first = sfn.REGISTRY.invoke(name, event)
        assert multiprocessing.active_children(), "no worker process was started"
    finally:
        local_workers.shutdown()
    monkeypatch.delenv(local_workers.ENV)
    again = sfn.REGISTRY.invoke(name, {**event, "run_id": uuid.uuid4().hex})  # another run of the same file

    assert "FunctionError" not in first, first["Payload"]
    assert (first["Payload"]["stored"], first["Payload"]["duplicates"]) == (20, 0)
    assert (again["Payload"]["stored"], again["Payload"]["duplicates"]) == (0, 20)  # in place: all seen before
