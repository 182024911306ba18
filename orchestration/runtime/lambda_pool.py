"""Locally, Lambda's execution environments: the functions' invocations run in a pool of worker processes.

In AWS each invocation runs in an execution environment of its function: a process of its own, whose module
state (clients, caches, connection pools) lives as long as the environment stays warm, and many run side by
side. With ``MTX_LOCAL_PROCESSES=N`` (N > 0) the local stack does the same (``orchestration/runtime/stack.py``):
the process that dispatches Lambda invocations (the Step Functions interpreter in the moto process; the API,
the stream's mapping and the schedules in the stack's process) hands each one to a :class:`LambdaPool` of N
spawned worker processes instead of calling the handler on its own thread, so the per-transaction path uses
every core. A worker is one warm environment that takes one invocation at a time (unlike Lambda, it may run
any function: the handlers share no module state with each other that matters).

A worker is a Lambda host as the stack's process is (the same environment: endpoints, secrets' ids, the
OpenLineage file transport, the X-Ray daemon's address), and keeps what AWS keeps for a function:

* the EMF metric lines it prints go to the stack's metrics file (``emf.install``, appending: CloudWatch's part);
* its trace segments go to the stack's X-Ray daemon over UDP, with Lambda's own segment of each invocation
  (``xray.send_segments_to``);
* the invocation response (a ``FunctionError`` for a handler that raised, with the exception's class name)
  is built in the worker by the same ``LambdaRegistry.invoke`` as in place.

The dispatcher keeps the rest: the invocation count and the fault injector's timeouts (``sfn.LambdaRegistry``).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

ENV = "MTX_LOCAL_PROCESSES"


def processes() -> int:
    """``MTX_LOCAL_PROCESSES``: Lambda worker processes per dispatching process; 0 (default): one process."""
    try:
        return max(0, int(os.environ.get(ENV, "0") or 0))
    except ValueError:
        return 0


def _init_worker(env: dict[str, str], home: str) -> None:
    """A worker's cold start: the stack's environment, then the Lambda host's set-up, then the handlers."""
    os.environ.update(env)
    from orchestration.runtime import local_workers

    os.environ[local_workers.ENV] = "0"  # already a worker: no pool of its own
    from orchestration.runtime import emf, xray
    from orchestration.settings import get_settings, reset_settings_cache

    reset_settings_cache()
    xray.host_lambdas()
    xray.send_segments_to(env.get(xray.ADDRESS_ENV))
    emf.install(emf.stack_file(Path(home)))
    from orchestration.runtime import manifest

    manifest.register_lambdas(manifest.build(get_settings()))


def _invoke(function_ref: str, payload: Any) -> dict[str, Any]:
    from orchestration.runtime.sfn import REGISTRY

    return REGISTRY.invoke(function_ref, payload)


class LambdaPool:
    """Worker processes that run invocations (:meth:`invoke`), started on demand, stopped by :meth:`shutdown`."""

    def __init__(self, workers: int, env: dict[str, str], home: Path) -> None:
        self.workers = workers
        self._env, self._home = dict(env), str(home)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker, initargs=(self._env, self._home),
                )  # fmt: skip
            return self._pool

    def invoke(self, function_ref: str, payload: Any) -> dict[str, Any]:
        """The invocation response, as ``LambdaRegistry.invoke`` gives it, from a worker."""
        try:
            return self._executor().submit(_invoke, function_ref, payload).result()
        except BrokenProcessPool:
            with self._lock:
                self._pool = None  # a worker died (killed, out of memory): the next invocation starts a fresh pool
            raise

    def pids(self) -> list[int]:
        with self._lock:
            pool = self._pool
        return [p.pid for p in (getattr(pool, "_processes", None) or {}).values() if p.pid] if pool else []

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
