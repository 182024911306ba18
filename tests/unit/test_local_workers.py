"""orchestration/runtime/local_workers.py: a call runs in place, or in a worker process, with the same result or
error; the runtime registers the CPU-bound handlers wrapped."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from lambdas.common.errors import DatabaseUnavailable
from orchestration.runtime import local_workers
from orchestration.runtime.sfn import LambdaContext, LambdaRegistry

pytestmark = pytest.mark.unit


def _pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * 2


def _raise_pipeline_error(message: str) -> None:
    raise DatabaseUnavailable(message)


class _Unpicklable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.conn = lambda: None  # a lambda does not pickle


def _raise_unpicklable(message: str) -> None:
    raise _Unpicklable(message)


def _raise_psycopg_error(message: str) -> None:
    raise psycopg.errors.UniqueViolation(message)


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(local_workers.ENV, "1")
    yield
    local_workers.shutdown()


def test_off_by_default_runs_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(local_workers.ENV, raising=False)
    assert local_workers.worker_processes() == 0
    assert local_workers.run(_pid_and, 21) == (os.getpid(), 42)


def test_in_a_worker_process_same_result(workers: None) -> None:
    pid, value = local_workers.run(_pid_and, 21)
    assert value == 42 and pid != os.getpid()
    assert local_workers.run(_pid_and, 1)[0] == pid  # the worker stays warm


def test_in_a_worker_process_same_error_class(workers: None) -> None:
    with pytest.raises(DatabaseUnavailable, match="gone"):
        local_workers.run(_raise_pipeline_error, "gone")
    with pytest.raises(Exception, match="no lambdas") as info:
        local_workers.run(_raise_unpicklable, "no lambdas")
    assert type(info.value).__name__ == "_Unpicklable"  # Retry/Catch match the class name
    with pytest.raises(Exception, match="dup") as info:
        local_workers.run(_raise_psycopg_error, "dup")
    assert type(info.value).__name__ == "UniqueViolation"


def _handler(event: dict[str, int], context: LambdaContext) -> dict[str, object]:
    return {"pid": os.getpid(), "function": context.function_name, "n": event["n"] * 2}


def _registered(registry: LambdaRegistry) -> str:
    registry.register("p-process_chunk", _handler)
    registry.register("p-validate", _handler)
    local_workers.register(registry, lambda short: f"p-{short}")
    return "p-process_chunk"


def test_the_runtime_runs_the_cpu_bound_functions_in_worker_processes(workers: None) -> None:
    registry = LambdaRegistry()
    name = _registered(registry)
    local_workers.register(registry, lambda short: f"p-{short}")  # registering again wraps once
    assert getattr(registry.resolve(name), "__wrapped_for_workers__", None) is _handler
    answer = registry.invoke(name, {"n": 21})["Payload"]
    assert answer["n"] == 42 and answer["function"] == name and answer["pid"] != os.getpid()
    assert registry.invoke("p-validate", {"n": 1})["Payload"]["pid"] == os.getpid()  # not CPU-bound: in place


def test_the_wrapped_handler_runs_in_place_when_workers_are_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(local_workers.ENV, raising=False)
    registry = LambdaRegistry()
    name = _registered(registry)
    assert registry.invoke(name, {"n": 2})["Payload"] == {"pid": os.getpid(), "function": name, "n": 4}


def test_the_deployed_handler_travels_to_a_worker_by_its_import_path() -> None:
    from lambdas.process_chunk import handler

    assert "process_chunk" in local_workers.CPU_BOUND
    assert pickle.loads(pickle.dumps(handler.handler)) is handler.handler


def test_no_deployed_code_reads_the_local_switch() -> None:
    root = Path(__file__).resolve().parents[2]
    readers = [
        str(path.relative_to(root))
        for folder in ("contracts", "lambdas", "glue_jobs", "expectations")
        for path in (root / folder).rglob("*.py")
        if local_workers.ENV in path.read_text() or "local_workers" in path.read_text()
    ]
    assert readers == []
