"""What CloudWatch does with the functions' metric lines, locally: keep the EMF lines, sum them up.

In AWS a function's stdout goes to its log group and CloudWatch extracts the embedded-metric-format
(EMF) lines the handlers print through Powertools (``lambdas/common/metrics.py``). The local runtime
runs the handlers in its own process, so it stands in for that: ``capture(path)`` puts a filter on
``sys.stdout`` that appends every EMF line to ``path`` (NDJSON, one datum per line) and lets every
other line through. Lines are assembled per thread (``print`` writes the text and the newline in two
calls, and handlers run on many threads). The deployed code is unchanged: it prints, as in Lambda.

``read(path)`` sums the captured data per metric and dimensions (what the tests compare with what
happened); ``points`` gives each datum with its time (``mtx status`` and ``mtx report``,
orchestration/cli/metrics_view.py). A stack notes where its run starts in the file (``mark_run``), so that
the view sums one run of the stack, as the stores it is compared with hold one run.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

_EMF_PREFIX = '{"_aws"'


class _Filter(io.TextIOBase):
    def __init__(self, target: TextIO, sink: Path) -> None:
        self._target = target
        self._sink = sink
        self._lock = threading.Lock()
        self._pending: dict[int, str] = {}

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        key = threading.get_ident()
        buffered = self._pending.pop(key, "") + text
        *lines, rest = buffered.split("\n")
        if rest:
            self._pending[key] = rest
        passed = []
        for line in lines:
            if line.startswith(_EMF_PREFIX):
                with self._lock, self._sink.open("a", encoding="utf-8") as out:
                    out.write(line + "\n")
            else:
                passed.append(line + "\n")
        if passed:
            self._target.write("".join(passed))
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()


@contextlib.contextmanager
def capture(path: Path) -> Iterator[Path]:
    """Divert the EMF lines printed while the block runs to ``path`` (appended)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = sys.stdout
    sys.stdout = _Filter(previous, path)
    try:
        yield path
    finally:
        sys.stdout = previous


def stack_file(home: Path) -> Path:
    """Where a local stack keeps its metric lines: ``<home>/metrics/emf.ndjson``."""
    return Path(home) / "metrics" / "emf.ndjson"


def install(path: Path) -> None:
    """Capture for the rest of the process (the local stack's lifetime); idempotent."""
    if not isinstance(sys.stdout, _Filter):
        path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout = _Filter(sys.stdout, path)


def uninstall() -> None:
    current = sys.stdout
    if isinstance(current, _Filter):
        sys.stdout = current._target


def size(path: Path) -> int:
    """Where the captured lines end now: pass it to ``read`` as ``start`` to sum only what comes after."""
    return path.stat().st_size if path.exists() else 0


def points(path: Path, start: int = 0) -> Iterator[tuple[float, str, dict[str, str], float]]:
    """Every captured datum from byte ``start`` on, in the order written: (epoch seconds, metric name, its
    dimensions, value)."""
    if not path.exists():
        return
    with path.open("rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    for line in text.splitlines():
        try:
            record: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a process killed mid-write
        at = float(record["_aws"].get("Timestamp", 0)) / 1000
        for directive in record["_aws"]["CloudWatchMetrics"]:
            dims = {d: str(record[d]) for group in directive["Dimensions"] for d in group if d != "Environment"}
            for metric in directive["Metrics"]:
                values = record[metric["Name"]]
                for value in values if isinstance(values, list) else [values]:
                    yield at, metric["Name"], dims, float(value)


def data(path: Path, start: int = 0) -> Iterator[tuple[str, dict[str, str], float]]:
    """Every captured datum from byte ``start`` on: (metric name, its dimensions, value)."""
    for _, name, dims, value in points(path, start):
        yield name, dims, value


def run_file(home: Path) -> Path:
    """Where a stack notes where its own lines start in the metrics file (kept after it stops)."""
    return Path(home) / "metrics" / "run.json"


def mark_run(home: Path) -> None:
    """At a stack's start: the file's lines from here on are this run's (what ``mtx status`` sums; the
    stores it compares them with, moto's, start empty with each run)."""
    marker = run_file(home)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"offset": size(stack_file(home)), "started_at": time.time()}))


def run_start(home: Path) -> tuple[int, float | None]:
    """(byte offset, epoch seconds) where the last run of the stack in ``home`` began; (0, None) if unknown."""
    try:
        marker = json.loads(run_file(home).read_text())
        return int(marker["offset"]), float(marker["started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, None


Key = tuple[str, tuple[tuple[str, str], ...]]


def read(path: Path, start: int = 0) -> dict[Key, float]:
    """Sum of each metric per dimensions: ``{(name, (("Entrance", "api"),)): 12.0, ...}``."""
    totals: dict[Key, float] = {}
    for name, dims, value in data(path, start):
        key = (name, tuple(sorted(dims.items())))
        totals[key] = totals.get(key, 0.0) + value
    return totals
