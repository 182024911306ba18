"""moto as the local AWS in a process of its own, with the functions' invocations in worker processes.

:class:`MotoProcess` has :class:`~orchestration.runtime.moto_server.MotoServer`'s interface (``start``, ``stop``,
``endpoint_url``, ``inject``); the stack uses it when ``MTX_LOCAL_PROCESSES=N`` (N > 0; ``stack.py``). The child
process is a moto server set up exactly as the in-process one (every patch, the Step Functions interpreter with
our Lambda dispatch and Glue stand-ins), started and stopped by the stack as PostgreSQL is. Its interpreter hands
every Lambda task to a :class:`~orchestration.runtime.lambda_pool.LambdaPool` of N worker processes, so moto, the
interpreter and the handlers no longer share one interpreter lock.

The stack talks to the child over a pipe, for what it cannot say over HTTP: the Lambda hosts' environment once
the stack has it (:meth:`configure`), the executions its interpreter ended (:meth:`ended_executions`), the records
put to a stream (:meth:`stream_puts`), the fault injector (:meth:`inject`: the plan goes to the child, which serves
the faults; what it injected comes back into the caller's injector when it is taken away) and the invocation
counts (:meth:`invocations`).
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import threading
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.runtime.ports import free_port

if TYPE_CHECKING:
    from orchestration.runtime.faults import FaultInjector

#: seconds the stack waits for the child's server to listen
START_TIMEOUT = 120.0


def _serve(port: int, time_scale: float, conn: Connection) -> None:
    """The child process: a moto server, then requests from the stack until ``stop`` (or the pipe closes)."""
    from orchestration.runtime import glue, sfn
    from orchestration.runtime.faults import FaultInjector
    from orchestration.runtime.lambda_pool import LambdaPool
    from orchestration.runtime.moto_server import MotoServer

    server = MotoServer(port=port, time_scale=time_scale)
    server.start()
    pool: LambdaPool | None = None
    injector: FaultInjector | None = None
    conn.send(("ready", port))
    while True:
        try:
            verb, args = conn.recv()
        except (EOFError, OSError):
            break
        answer: Any = None
        if verb == "configure":
            env, home, workers = args
            import os

            os.environ.update(env)
            from orchestration.settings import reset_settings_cache

            reset_settings_cache()
            if pool is not None:
                pool.shutdown()
            pool = LambdaPool(workers, env, Path(home))
            sfn.REGISTRY.delegate = pool.invoke
        elif verb == "inject":
            plan, enabled = args
            previous = injector
            injector = None if plan is None else FaultInjector(plan, enabled=enabled)
            server.inject(injector)
            answer = dict(previous.injected) if previous is not None else {}
        elif verb == "invocations":
            answer = dict(sfn.REGISTRY.invocations)
        elif verb == "ended":
            answer = server.ended_executions(*args)
        elif verb == "puts":
            answer = server.stream_puts(*args)
        elif verb == "pids":
            answer = pool.pids() if pool is not None else []
        elif verb == "stop":
            break
        conn.send(("ok", answer))
    if pool is not None:
        pool.shutdown()
    glue.stop_spark()
    server.stop()
    with contextlib.suppress(OSError):
        conn.send(("ok", None))


@dataclass
class MotoProcess:
    port: int = 0
    time_scale: float = 1.0
    _process: Any = field(default=None, repr=False)
    _conn: Connection | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _injector: FaultInjector | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        import os

        from orchestration.runtime.moto_server import FAKE_CREDENTIALS

        self.port = self.port or free_port()
        os.environ["MOTO_PORT"] = str(self.port)
        for key, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        ctx = multiprocessing.get_context("spawn")
        ours, theirs = ctx.Pipe()
        # not a daemon: it starts the Lambda worker processes; stopped at exit if the stack was not
        self._process = ctx.Process(target=_serve, args=(self.port, self.time_scale, theirs), name="mtx-moto")
        self._process.start()
        atexit.register(self.stop)
        theirs.close()
        self._conn = ours
        if not ours.poll(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the moto process did not start within {START_TIMEOUT:.0f} s")
        ours.recv()

    def _ask(self, verb: str, *args: Any) -> Any:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("the moto process is not running")
            self._conn.send((verb, args))
            _, answer = self._conn.recv()
            return answer

    def configure(self, env: dict[str, str], home: Path, workers: int) -> None:
        """Lambda invocations of the interpreter: in ``workers`` processes with the stack's environment."""
        self._ask("configure", dict(env), str(home), workers)

    def inject(self, injector: FaultInjector | None) -> None:
        """Faults served by the child from the injector's plan, from now until ``inject(None)`` (the injector's
        ``enabled`` switch stays in this process: the soak turns it on right after injecting, off right before
        taking it away); what was injected is added to the injector that was in place when it is replaced."""
        plan = None if injector is None else injector.plan
        injected = self._ask("inject", plan, True)
        if self._injector is not None and injected:
            self._injector.injected.update(Counter(injected))
        self._injector = injector

    def invocations(self) -> dict[str, int]:
        return dict(self._ask("invocations"))

    def ended_executions(self, cursor: int | None) -> tuple[int, list[tuple[str, str, str]]] | None:
        """What the child's interpreter ended since ``cursor`` (``moto_sfn.EndedExecutions.since``)."""
        return self._ask("ended", cursor)

    def stream_puts(self, stream_arn: str) -> int:
        """Records put to the stream so far, in the child (``moto_kinesis.put_count``)."""
        return int(self._ask("puts", stream_arn))

    def worker_pids(self) -> list[int]:
        return list(self._ask("pids"))

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, EOFError, RuntimeError):
                self._ask("stop")
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=10)
            self._process = None
        atexit.unregister(self.stop)
