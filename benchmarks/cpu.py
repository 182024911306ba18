"""Whose CPU time is it: the product's (handlers, job code), the emulator's (moto, the Step Functions
interpreter, the local pollers and API plumbing), the benchmark driver's, or the store's (PostgreSQL).

The local stack runs moto's threaded server, the interpreter and the handlers in one Python process, so
the process's CPU time alone says nothing about whose it is. The local runtime calls every Lambda handler
in one place (``LambdaRegistry.invoke``, on the calling thread, synchronously), so:

- **product** = the CPU time of the calling thread while it is inside a handler (``time.thread_time``
  deltas around each call, :func:`instrument`), plus the CPU time of this process's child processes (the
  local Lambda worker processes of ``orchestration/runtime/local_workers.py``; Spark's JVM in the Glue
  benchmark). A handler's boto3 client work (serialising, signing, parsing answers) is the product's: it
  runs on the handler's thread, as it would in Lambda. Its requests are served by moto on moto's own
  threads: the emulator's.
- **driver** = the CPU time of the benchmark's own code on its own threads (generating load: uploading a
  file, PutRecords, polling for the end), marked with :meth:`Meter.role`.
- **emulator** = the rest of this process: the process's CPU time (every thread, ``time.process_time``)
  minus the product's and the driver's in-process shares.
- **store** = the PostgreSQL server's processes (postmaster, its live backends, and what the backends
  that ended used, read from ``/proc``), reported apart: the floors write to the same server.

Roles nest per thread: a product call made from a driver thread is charged to the product alone. A task a
thread gives to a thread pool runs in that thread's role (:func:`follow_pools`): the handlers' own pool
threads are the product's. A full garbage collection (generation 2) that a product thread happens to run is
charged to the emulator, and reported apart (``product_full_gc_s``, :func:`follow_full_gc`): it walks the
process's whole heap, which here is almost all the emulator's state (every object, message, record and item
moto holds for the run), where a Lambda's heap holds only the handler's own.
Limits: see docs/benchmarks.md ("Whose CPU time").
"""

from __future__ import annotations

import gc
import os
import resource
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

PRODUCT, DRIVER, EMULATOR = "product", "driver", "emulator"
#: the meter's tally of the full collections moved from the product to the emulator (not a role)
FULL_GC = "product_full_gc"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
F = TypeVar("F", bound=Callable[..., Any])


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": field 3 (state) is index 0


def process_cpu(pid: int | str) -> float:
    """CPU seconds of a process and of its children it has reaped (utime + stime + cutime + cstime)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / _TICK


def children(pid: int | str) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def descendants(pid: int | str) -> list[int]:
    found, todo = [], children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children(child)
    return found


def own_cpu(pid: int | str | None) -> float:
    """CPU seconds of one process itself (utime + stime, not its children). 0 for None or a gone process."""
    fields = _stat_fields(pid) if pid is not None else None
    return sum(int(v) for v in fields[11:13]) / _TICK if fields else 0.0


def tree_cpu(pid: int | str) -> float:
    """CPU seconds of a process's live descendants and of those reaped inside the tree (not the root's own)."""
    fields = _stat_fields(pid)
    reaped = sum(int(v) for v in fields[13:15]) / _TICK if fields else 0.0
    return reaped + sum(process_cpu(child) for child in descendants(pid))


def own_children_cpu() -> float:
    """This process's child processes: the live ones (with what they reaped) and the ones it reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + sum(process_cpu(c) for c in descendants("self"))


def postgres_cpu(data_dir: Path | None) -> float:
    """The PostgreSQL server of ``data_dir`` (postmaster.pid): the postmaster, its live processes and the
    backends it reaped. 0 when there is none."""
    if data_dir is None:
        return 0.0
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return process_cpu(pid) + sum(process_cpu(c) for c in descendants(pid))


@dataclass(frozen=True)
class Sample:
    wall: float
    process: float
    roles: dict[str, float]
    children: float
    store: float
    emulator_process: float = 0.0


@dataclass
class Split:
    """CPU seconds by owner over one phase (see the module's docstring)."""

    wall_s: float = 0.0
    product_cpu_s: float = 0.0
    emulator_cpu_s: float = 0.0
    driver_cpu_s: float = 0.0
    store_cpu_s: float = 0.0
    process_cpu_s: float = 0.0  # this process, every thread
    children_cpu_s: float = 0.0  # child processes (counted as product), the emulator's process aside
    emulator_process_cpu_s: float = 0.0  # moto's own process (MTX_LOCAL_PROCESSES), counted as emulator
    #: full garbage collections run on product threads, charged to the emulator (in emulator_cpu_s)
    product_full_gc_s: float = 0.0

    def rounded(self, places: int = 2) -> dict[str, float]:
        return {k: round(v, places) for k, v in asdict(self).items()}

    def __add__(self, other: Split) -> Split:
        """Two phases as one (e.g. the rounds of a phase interleaved with its floor's): every field summed."""
        return Split(**{k: v + getattr(other, k) for k, v in asdict(self).items()})


class Meter:
    """Per-thread role accounting plus process, child-process and PostgreSQL CPU samples."""

    def __init__(self, store_dir: Path | None = None, emulator_pid: int | None = None) -> None:
        self.store_dir = store_dir
        #: a child process that is the emulator's (moto's own, orchestration/runtime/moto_process.py): its own CPU
        #: is the emulator's, the Lambda worker processes it started are the product's
        self.emulator_pid = emulator_pid
        #: reentrant: a full collection's callback (:meth:`full_gc`) can run while this thread holds it
        self._lock = threading.RLock()
        self._totals: dict[str, float] = defaultdict(float)
        self._local = threading.local()

    def _charge(self, role: str, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._totals[role] += seconds

    @contextmanager
    def role(self, name: str) -> Iterator[None]:
        """Charge this thread's CPU time to ``name`` while inside (an enclosing role pauses meanwhile)."""
        stack: list[list[Any]] = self._local.__dict__.setdefault("stack", [])
        entry: list[Any] = [name, 0.0]  # made before the clock is read: a collection it triggers is not in it
        now = time.thread_time()
        if stack:
            outer = stack[-1]
            self._charge(outer[0], now - outer[1])
        entry[1] = now
        stack.append(entry)
        try:
            yield
        finally:
            now = time.thread_time()
            inner = stack.pop()
            self._charge(inner[0], now - inner[1])
            if stack:
                stack[-1][1] = now

    def current_role(self) -> str | None:
        """The role this thread is in now (None: none)."""
        stack: list[list[Any]] = self._local.__dict__.get("stack") or []
        return str(stack[-1][0]) if stack else None

    def carry(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` charged to this thread's role now, wherever it runs (itself when this thread has none)."""
        role = self.current_role()
        return fn if role is None else self.wrap(role, fn)

    def wrap(self, name: str, fn: F) -> F:
        def charged(*args: Any, **kwargs: Any) -> Any:
            with self.role(name):
                return fn(*args, **kwargs)

        charged.__wrapped__ = fn  # type: ignore[attr-defined]
        return charged  # type: ignore[return-value]

    def totals(self) -> dict[str, float]:
        with self._lock:
            return dict(self._totals)

    def full_gc(self, seconds: float) -> None:
        """A full collection this thread just ran (:func:`follow_full_gc`): out of the product's CPU when the
        thread is the product's (its role's start moved on by the collection's time), tallied apart."""
        stack: list[list[Any]] = self._local.__dict__.get("stack") or []
        if stack and stack[-1][0] == PRODUCT:
            stack[-1][1] += seconds
            self._charge(FULL_GC, seconds)

    def sample(self) -> Sample:
        return Sample(time.perf_counter(), time.process_time(), self.totals(), own_children_cpu(),
                      postgres_cpu(self.store_dir), own_cpu(self.emulator_pid))  # fmt: skip

    @staticmethod
    def between(a: Sample, b: Sample, whole_process: str | None = None) -> Split:
        """The split from ``a`` to ``b``. ``whole_process``: charge this whole process to that role (a phase
        with no emulator in the process, e.g. DuckDB or Spark's driver, whose threads are not ours to mark)."""
        process = b.process - a.process
        emulated = b.emulator_process - a.emulator_process
        child = b.children - a.children - emulated
        role = {k: b.roles.get(k, 0.0) - a.roles.get(k, 0.0) for k in {*a.roles, *b.roles}}
        if whole_process is not None:
            role = {whole_process: process}
        product = role.get(PRODUCT, 0.0)
        driver = role.get(DRIVER, 0.0)
        moved = role.get(FULL_GC, 0.0) if whole_process is None else 0.0
        return Split(
            wall_s=b.wall - a.wall,
            product_cpu_s=product + child,
            emulator_cpu_s=max(0.0, process - product - driver) + emulated,
            driver_cpu_s=driver,
            store_cpu_s=b.store - a.store,
            process_cpu_s=process,
            children_cpu_s=child,
            emulator_process_cpu_s=emulated,
            product_full_gc_s=moved,
        )

    @contextmanager
    def phase(self, whole_process: str | None = None) -> Iterator[Split]:
        """``with meter.phase() as split:``: ``split`` is filled in when the block ends."""
        split = Split()
        start = self.sample()
        try:
            yield split
        finally:
            for k, v in asdict(self.between(start, self.sample(), whole_process)).items():
                setattr(split, k, v)


class Registry(Protocol):
    def names(self) -> list[str]: ...

    def resolve(self, function_ref: str) -> Callable[[Any, Any], Any]: ...

    def register(self, function_name: str, handler: Callable[[Any, Any], Any]) -> None: ...


class Carrier(Protocol):
    def carry(self, fn: Callable[..., Any]) -> Callable[..., Any]: ...


class _Followers:
    """Trackers held weakly (a meter or a stage split no longer used drops out: `make bench` makes one per
    benchmark), as a tuple replaced whole under a lock and read without it: a thread pool's submit reads it on
    every product thread, and gc's callback on whichever thread collects, while another follows or unfollows."""

    _lock = threading.Lock()

    def __init__(self) -> None:
        self._refs: tuple[weakref.ref[Any], ...] = ()

    def _others(self, tracker: Any) -> tuple[weakref.ref[Any], ...]:
        return tuple(r for r in self._refs if r() is not None and r() is not tracker)

    def add(self, tracker: Any) -> None:
        """Idempotent per tracker."""
        with self._lock:
            self._refs = (*self._others(tracker), weakref.ref(tracker))

    def discard(self, tracker: Any) -> None:
        with self._lock:
            self._refs = self._others(tracker)

    def __iter__(self) -> Iterator[Any]:
        for ref in self._refs:
            tracker = ref()
            if tracker is not None:
                yield tracker


_pool_followers = _Followers()
_gc_followers = _Followers()


def follow_pools(tracker: Carrier) -> None:
    """A task given to a thread pool (``concurrent.futures.ThreadPoolExecutor``) is charged as the thread that
    gave it is (``tracker.carry``): a handler's own pool threads (the players table's claim threads) are the
    product's CPU, as they are the Lambda's in AWS, not the emulator's. Patches ``ThreadPoolExecutor.submit``
    once per process (``map`` goes through it); idempotent per tracker."""
    with _Followers._lock:
        if not hasattr(ThreadPoolExecutor.submit, "__mtx_follows__"):
            original = ThreadPoolExecutor.submit

            def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
                for tracker in _pool_followers:
                    fn = tracker.carry(fn)
                return original(self, fn, *args, **kwargs)

            submit.__mtx_follows__ = True  # type: ignore[attr-defined]
            ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
    _pool_followers.add(tracker)


def unfollow_pools(tracker: Carrier) -> None:
    _pool_followers.discard(tracker)


class FullGcTracker(Protocol):
    def full_gc(self, seconds: float) -> None: ...


_gc_state = threading.local()


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    """gc's callback, run on the thread that collects: the thread CPU a full collection took, to each tracker."""
    if info.get("generation") != 2:
        return
    if phase == "start":
        _gc_state.started = time.thread_time()
        return
    started = getattr(_gc_state, "started", None)
    if started is None:
        return
    _gc_state.started = None
    seconds = time.thread_time() - started
    for tracker in _gc_followers:
        tracker.full_gc(seconds)


def follow_full_gc(tracker: FullGcTracker) -> None:
    """Tell ``tracker`` of every full collection and the thread CPU it took, on the thread that ran it (a
    ``gc.callbacks`` entry, added once per process; idempotent per tracker)."""
    with _Followers._lock:
        if _on_gc not in gc.callbacks:
            gc.callbacks.append(_on_gc)
    _gc_followers.add(tracker)


def unfollow_full_gc(tracker: FullGcTracker) -> None:
    _gc_followers.discard(tracker)


def instrument(registry: Registry, meter: Meter) -> int:
    """Charge every registered handler's calls to the product (idempotent per handler); returns how many."""
    count = 0
    for name in registry.names():
        handler = registry.resolve(name)
        if getattr(handler, "__mtx_meter__", None) is meter:
            continue
        charged = meter.wrap(PRODUCT, handler)
        charged.__mtx_meter__ = meter  # type: ignore[attr-defined]
        for attr in ("__wrapped_for_workers__",):  # local_workers' marker stays visible
            if hasattr(handler, attr):
                setattr(charged, attr, getattr(handler, attr))
        registry.register(name, charged)
        count += 1
    return count
