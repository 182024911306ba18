"""lambdas/common/local_workers.py: a call runs in place, or in a worker process, with the same result or error."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from lambdas.common import local_workers
from lambdas.common.errors import DatabaseUnavailable

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
