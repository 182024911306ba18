"""dbt on threads only: what lets it run inside AWS Lambda.

Lambda has no ``/dev/shm``, so a multiprocessing semaphore cannot be created
there (``OSError: [Errno 38] Function not implemented``, dbt-labs/dbt-core#2992).
dbt 1.11 creates three, although it runs models on threads, never processes:

- ``dbt.mp_context`` (a spawn context): the adapter's connection lock
  (``mp_context.RLock()``) and the manifest's lock (``get_mp_context().Lock``,
  taken when ``dbt.contracts.graph.manifest`` is imported);
- ``DbtThreadPool``, a ``multiprocessing.pool.ThreadPool``, whose constructor
  makes a ``SimpleQueue`` with a semaphore to notify its worker handler.

``use_threads_only()`` replaces the context with one whose locks are
``threading`` locks, and the pool with ``ExecutorPool`` (the same interface on
``concurrent.futures`` threads). It must run before dbt's modules are imported
(the manifest takes its lock factory at import); BuildMarts calls it before its
first invocation everywhere, so the local runs test the code Lambda runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class ThreadingContext:
    """What dbt takes from its multiprocessing context, made of threading locks."""

    Lock = staticmethod(threading.Lock)
    RLock = staticmethod(threading.RLock)


class ExecutorPool:
    """dbt's ``DbtThreadPool`` interface on a ThreadPoolExecutor.

    As in ``multiprocessing.pool.ThreadPool``, callbacks run one at a time (dbt's
    result handling is written for that), and a task that raises calls its
    ``error_callback`` if any, never its ``callback``.
    """

    def __init__(
        self, processes: int | None = None, initializer: Callable[..., Any] | None = None, initargs: Iterable[Any] = ()
    ) -> None:
        self.max_threads = max(1, int(processes or 1))
        # as DbtThreadPool: how many microbatch models may run at once
        self.max_microbatch_models = max(1, self.max_threads // 2)
        self.closed = False
        self._callbacks = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=self.max_threads, initializer=initializer, initargs=tuple(initargs), thread_name_prefix="dbt"
        )

    def apply_async(
        self,
        func: Callable[..., Any],
        args: Iterable[Any] = (),
        kwds: Mapping[str, Any] | None = None,
        callback: Callable[[Any], Any] | None = None,
        error_callback: Callable[[BaseException], Any] | None = None,
    ) -> Future[Any]:
        future = self._executor.submit(func, *args, **(kwds or {}))

        def done(f: Future[Any]) -> None:
            if f.cancelled():
                return
            error = f.exception()
            with self._callbacks:
                if error is None:
                    if callback is not None:
                        callback(f.result())
                elif error_callback is not None:
                    error_callback(error)

        future.add_done_callback(done)
        return future

    def close(self) -> None:
        self.closed = True

    def is_closed(self) -> bool:
        return self.closed

    def terminate(self) -> None:
        """Stop taking tasks and drop those not started (running threads finish their node)."""
        self.closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    def join(self) -> None:
        self._executor.shutdown(wait=True)


_applied = False


def use_threads_only() -> None:
    """Give dbt threading locks and the executor pool; call before dbt's modules are imported."""
    global _applied
    if _applied:
        return
    import dbt.mp_context

    dbt.mp_context._MP_CONTEXT = ThreadingContext()  # type: ignore[assignment]
    import dbt.graph.thread_pool
    import dbt.task.runnable

    dbt.graph.thread_pool.DbtThreadPool = ExecutorPool  # type: ignore[misc,assignment]
    dbt.task.runnable.DbtThreadPool = ExecutorPool  # type: ignore[misc,assignment]
    _applied = True
