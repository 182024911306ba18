"""The product's AWS calls in a run: how many of each, and the product's CPU spent inside them.

The stream and batch paths' CPU is the product's own Python (parse, contract, Enrich, the lines) plus the client
side of its AWS calls: building, signing, sending and parsing each request in botocore and its HTTP client. The
second part is paid per call, whatever the call carries, and the number of calls has a floor set by the API's
limits (25 statements a BatchExecuteStatement, 10 messages a SendMessageBatch, 100 keys a BatchGetItem). This
splits the product's CPU into the two, so a report can say which one a ratio comes from.

A call is counted when a thread in the product's role (benchmarks/cpu.py) makes it, its time is that thread's CPU
time from the call's start to its answer (retries included), less any full garbage collection run meanwhile (the
meter charges those to the emulator). The emulator's side of the call (moto, the server's threads) is not in it.
Handlers run in this process (the benchmarks do not set ``MTX_LOCAL_PROCESSES``): calls made in worker processes
would not be seen.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.client import BaseClient

from benchmarks.cpu import PRODUCT, Meter, follow_full_gc, unfollow_full_gc

_tls = threading.local()


class Calls:
    """Calls and product CPU seconds per ``service Operation``."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.RLock()  # reentrant: a collection's callback may run while this thread holds it

    def full_gc(self, seconds: float) -> None:
        """A full collection run inside a call: left out of the call's time."""
        starts: list[float] = getattr(_tls, "starts", None) or []
        if starts:
            starts[-1] += seconds

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.counts[name] += 1
            self.seconds[name] += seconds

    @property
    def total_calls(self) -> int:
        return sum(self.counts.values())

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def document(self) -> dict[str, Any]:
        """For the report's JSON: each operation's calls, CPU seconds and milliseconds a call."""
        return {
            name: {"calls": n, "cpu_s": round(s, 2), "ms_a_call": round(s / n * 1e3, 2)}
            for name, n, s in self._by_cost()
        }

    def _by_cost(self) -> list[tuple[str, int, float]]:
        return sorted(((name, n, self.seconds[name]) for name, n in self.counts.items()), key=lambda t: -t[2])

    def line(self, what: str, product_s: float, floor_s: float) -> str:
        """``what``: N AWS calls took X s of the product's CPU (Y ms a call, Z%): op n (m ms), ...; the product's
        CPU outside its AWS calls: W s, V x the floor."""
        calls, inside = self.total_calls, self.total_seconds
        outside = max(0.0, product_s - inside)
        share = f", {inside / product_s:.0%}" if product_s > 0 else ""
        per = f"{inside / calls * 1e3:.2f} ms a call" if calls else "no call"
        ops = "; ".join(f"{name} {n:,} ({s / n * 1e3:.2f} ms)" for name, n, s in self._by_cost())
        ratio = f", {outside / floor_s:.2f}x the floor's {floor_s:.2f} s" if floor_s > 0 else ""
        return (
            f"{what}: {calls:,} AWS calls took {inside:.2f} s of the product's CPU ({per}{share}): {ops or '-'}. "
            f"The product's CPU outside its AWS calls: {outside:.2f} s{ratio}"
        )


@contextmanager
def counted(meter: Meter) -> Iterator[Calls]:
    """Count, for the block, every AWS call a product thread makes through any botocore client, and its CPU."""
    calls = Calls()
    original = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if meter.current_role() != PRODUCT:
            return original(client, operation_name, api_params)
        starts: list[float] = _tls.__dict__.setdefault("starts", [])
        starts.append(time.thread_time())
        try:
            return original(client, operation_name, api_params)
        finally:
            # a call made inside this one (botocore refreshing credentials, S3 finding a bucket's region) is
            # counted as its own; this call's time leaves it out
            seconds = time.thread_time() - starts.pop()
            if starts:
                starts[-1] += seconds
            calls.add(f"{client.meta.service_model.service_name} {operation_name}", seconds)

    BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    follow_full_gc(calls)
    try:
        yield calls
    finally:
        unfollow_full_gc(calls)
        BaseClient._make_api_call = original  # type: ignore[method-assign]
