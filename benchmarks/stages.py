"""Where a bulk handler's CPU goes, stage by stage: what limits the path, for the report's notes.

The product's CPU on the stream path is one figure beside its floor; this splits it by what the handler does
with a batch. Each stage is a function the handler module calls by its global name (a generator counts each
step it takes). Time is thread CPU time and exclusive: a stage running inside another (the records' lines,
produced while the COPY reads them) is charged to the inner one only. What no stage covers (decoding the
batch, the ownership query's Python side, metrics, logs, tracing, the wrappers) is the rest, the handler's
total less the stages. The wrappers cost two clock reads per call or step: ~1 us, charged to the stage.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from benchmarks.cpu import follow_full_gc, follow_pools, unfollow_full_gc, unfollow_pools

_tls = threading.local()
#: what no stage covers, in the stream handler
REST = "the rest (decode, ownership, metrics, logs, tracing)"


class Stages:
    """Exclusive thread CPU seconds per stage label, over every thread that ran a stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        #: full collections run inside a stage, left out of it (the meter charges them to the emulator)
        self.full_gc_s = 0.0
        self._lock = threading.RLock()  # reentrant: a collection's callback may run while this thread holds it

    def _charge(self, label: str, seconds: float) -> None:
        with self._lock:
            self.seconds[label] += seconds

    def enter(self, label: str) -> None:
        stack: list[list[Any]] = getattr(_tls, "stack", None) or []
        entry: list[Any] = [label, 0.0]  # made before the clock is read: a collection it triggers is not in it
        now = time.thread_time()
        if stack:
            self._charge(stack[-1][0], now - stack[-1][1])
        entry[1] = now
        stack.append(entry)
        _tls.stack = stack

    def leave(self) -> None:
        now = time.thread_time()
        stack: list[list[Any]] = _tls.stack
        label, since = stack.pop()
        self._charge(label, now - since)
        if stack:
            stack[-1][1] = now  # the outer stage resumes now

    def full_gc(self, seconds: float) -> None:
        """A full collection this thread just ran inside a stage: left out of the stage, as out of the product."""
        stack: list[list[Any]] = getattr(_tls, "stack", None) or []
        if stack:
            stack[-1][1] += seconds
            with self._lock:
                self.full_gc_s += seconds

    def carry(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` charged to this thread's stage now, wherever it runs (a pool task: the claim threads)."""
        stack: list[list[Any]] = getattr(_tls, "stack", None) or []
        return self.wrap(fn, stack[-1][0]) if stack else fn

    def wrap(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def staged(*args: Any, **kwargs: Any) -> Any:
            self.enter(label)
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave()

        return staged

    def wrap_generator(self, fn: Callable[..., Iterator[Any]], label: str) -> Callable[..., Iterator[Any]]:
        def staged(*args: Any, **kwargs: Any) -> Iterator[Any]:
            inner = fn(*args, **kwargs)
            while True:
                self.enter(label)
                try:
                    item = next(inner)
                except StopIteration:
                    return
                finally:
                    self.leave()
                yield item

        return staged

    def line(self, what: str, total_s: float, records: int, rest: str = REST) -> str:
        """``what``: 12.3 s of product CPU (61 us a record): stage 4.1 s (33%), ..., the rest 1.0 s (8%)."""
        parts = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        left = max(0.0, total_s - sum(self.seconds.values()))
        shown = [*parts, (rest, left)]
        per = f" ({total_s / records * 1e6:.0f} us a record)" if records else ""

        def share(s: float) -> str:
            return f"{s / total_s:.0%}" if total_s > 0 else "-"

        body = "; ".join(f"{label} {s:.2f} s ({share(s)})" for label, s in shown)
        gc_note = (
            f". Not in it: full garbage collections of the shared heap, {self.full_gc_s:.2f} s"
            if self.full_gc_s
            else ""
        )
        return f"{what}: {total_s:.2f} s of product CPU{per}: {body}{gc_note}"


@contextmanager
def staged(module: ModuleType, functions: dict[str, str], generators: dict[str, str] | None = None) -> Iterator[Stages]:
    """The module's named functions (and generator functions) wrapped for the block, then put back."""
    stages = Stages()
    originals = {name: getattr(module, name) for name in [*functions, *(generators or {})]}
    follow_pools(stages)
    follow_full_gc(stages)
    try:
        for name, label in functions.items():
            setattr(module, name, stages.wrap(originals[name], label))
        for name, label in (generators or {}).items():
            setattr(module, name, stages.wrap_generator(originals[name], label))
        yield stages
    finally:
        unfollow_pools(stages)
        unfollow_full_gc(stages)
        for name, fn in originals.items():
            setattr(module, name, fn)


#: the stream handler's stages (lambdas/ingest_stream/handler.py, the names it calls)
STREAM_FUNCTIONS = {
    "store_chunk": "compliance store (COPY, merge, versions)",
    "settle_first_purchases": "first purchases (players table)",
    "write_analytics": "analytics objects (S3)",
    "send_batch": "dead letters (SQS)",
    "apply_realtime": "real-time rollups (DynamoDB)",
}
STREAM_GENERATORS = {"validated_lines": "records (parse, contract, catalogue, Enrich, PII-free line)"}

#: the batch path's ProcessChunk (lambdas/process_chunk/handler.py): the same bulk code, the same names
BATCH_FUNCTIONS = STREAM_FUNCTIONS
BATCH_GENERATORS = STREAM_GENERATORS
