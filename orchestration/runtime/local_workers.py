"""Locally, run a CPU-bound Lambda handler in a worker process, as AWS runs each invocation in its own container.

The local runtime dispatches every Lambda task to a thread of one process (the
Step Functions interpreter's), so the chunks a ``Map`` state runs side by side
share one GIL; in AWS each chunk is a Lambda invocation of its own. With
``MTX_LOCAL_WORKER_PROCESSES=N`` (N > 0) :func:`run` hands the call to a pool of
N spawned worker processes (they start clean, like a cold Lambda container, and
stay warm); unset or 0 it calls the function in place.

The deployed handlers know nothing of this: the local runtime registers the
functions of :data:`CPU_BOUND` with the Step Functions dispatcher wrapped by
:func:`in_worker_processes` (:func:`register`, called by the stack after it
registered the handlers).

The function runs exactly as it would in place: same code, same settings (the
workers inherit the environment), same exceptions with the same class names
(the state machine's Retry/Catch match them). An exception that cannot cross
the process boundary comes back as an exception of the same class name and message.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NoReturn, Protocol, TypeVar

from orchestration.runtime import xray

ENV = "MTX_LOCAL_WORKER_PROCESSES"
#: Short names of the functions whose invocations are CPU-bound (a chunk of a batch file each).
CPU_BOUND: tuple[str, ...] = ("process_chunk",)
T = TypeVar("T")
Handler = Callable[[Any, Any], Any]

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_key: tuple[Any, ...] | None = None


def worker_processes() -> int:
    try:
        return max(0, int(os.environ.get(ENV, "0") or 0))
    except ValueError:
        return 0


def _environment_key(workers: int) -> tuple[Any, ...]:
    """What a worker inherited: a pool made for another stack (other ports, other secrets) is replaced."""
    return (workers, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(("MTX_", "AWS_")))))


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_key
    key = _environment_key(workers)
    with _lock:
        if _pool is None or _pool_key != key:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=False)
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            _pool_key = key
        return _pool


def shutdown() -> None:
    """Stop the workers (they are also stopped when this process exits)."""
    global _pool, _pool_key
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool, _pool_key = None, None


class _Failed:
    """An exception raised in a worker, as data: its class (if it pickles) or its class name and message."""

    def __init__(self, exc: Exception) -> None:
        self.name = type(exc).__name__
        self.message = str(exc)
        try:
            pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own object, this very moment
            self.exc: Exception | None = exc
        except Exception:  # noqa: BLE001 - any exception that does not survive the trip is rebuilt by name
            self.exc = None

    def reraise(self) -> NoReturn:
        if self.exc is not None:
            raise self.exc
        raise type(self.name, (Exception,), {"__module__": __name__})(self.message)


def _call(fn: Callable[..., T], args: tuple[Any, ...]) -> T | _Failed:
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller
        return _Failed(exc)


def run(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, in a worker process if enabled. ``fn`` must be a module-level function."""
    workers = worker_processes()
    if workers <= 0:
        return fn(*args)
    try:
        result: T | _Failed = _get_pool(workers).submit(_call, fn, args).result()
    except BrokenProcessPool:
        shutdown()  # a worker died (killed, out of memory): the next call starts a fresh pool
        raise
    if isinstance(result, _Failed):
        result.reraise()
    return result


def in_worker_processes(handler: Handler) -> Handler:
    """``handler`` called through :func:`run`: in a worker process when enabled (checked on every call), else in
    place. ``handler`` must be a module-level function (it travels to the worker by its import path)."""
    if getattr(handler, "__wrapped_for_workers__", None) is not None:
        return handler

    def invoke(event: Any, context: Any) -> Any:
        if worker_processes() <= 0:
            return handler(event, context)
        # the invocation's trace header travels with the call (orchestration/runtime/xray.py)
        return run(xray.call_with_header, xray.current_header(), handler, event, context)

    invoke.__wrapped_for_workers__ = handler  # type: ignore[attr-defined]
    return invoke


class Registry(Protocol):
    def resolve(self, function_ref: str) -> Handler: ...

    def register(self, function_name: str, handler: Handler) -> None: ...


def register(registry: Registry, function_name: Callable[[str], str]) -> None:
    """Wrap the registered handler of every :data:`CPU_BOUND` function (``function_name``: short name -> name)."""
    for short in CPU_BOUND:
        name = function_name(short)
        registry.register(name, in_worker_processes(registry.resolve(name)))
