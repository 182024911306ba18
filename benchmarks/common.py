"""Machine description and the report file shared by the benchmarks."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.cpu import Meter, follow_full_gc, follow_pools, instrument
from benchmarks.table import Row, markdown
from orchestration.settings import REPO_ROOT

REPORT_DIR = REPO_ROOT / ".local" / "bench"


def env_int(name: str, default: int) -> int:
    """A size from the environment (``1_000_000`` is read as 1000000), else ``default``."""
    return int(os.environ.get(name, str(default)).replace("_", ""))


def repeats(default: int) -> int:
    """How many times a benchmark repeats a measurement to keep its best: ``default``, or fewer when
    ``MTX_BENCH_REPEATS`` says so (at least 1; never more than ``default``: the dbt benchmark's late batches are
    laid out in time for its default count). The test that runs every benchmark (tests/e2e/test_bench_runs.py)
    sets 1: it proves each one runs and checks itself, and every repeat of a dbt build or a Spark round is
    minutes of the suite."""
    return max(1, min(default, env_int("MTX_BENCH_REPEATS", default)))


@contextmanager
def bench_stack(time_scale: float = 1.0, **options: Any) -> Iterator[Any]:
    """A local stack of its own for one benchmark (in a fresh folder PostgreSQL can reach), stopped after.
    ``options``: more of LocalStack's fields (``stream_mapping``...)."""
    from orchestration.runtime.stack import LocalStack

    home = Path(tempfile.mkdtemp(prefix="mtx-bench-"))
    home.chmod(0o755)
    _reset_moto()
    stack = LocalStack(home=home, time_scale=time_scale, name_prefix="mtx-bench", **options)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        _reset_moto()
        shutil.rmtree(home, ignore_errors=True)


def _reset_moto() -> None:
    """Empty moto's in-process state. `make bench` runs every benchmark in one process, and moto keeps its state
    in module globals, not in the server: without this, the next benchmark's stack found the last one's queues,
    tables and objects under the same names (the stream benchmark counted the batch benchmark's dead letters
    as its own duplicates)."""
    from moto.moto_api._internal import moto_api_backend

    moto_api_backend.reset()


def metered(stack: Any) -> Meter:
    """A meter for a started stack: every registered handler's calls charged to the product, its PostgreSQL
    server as the store (benchmarks/cpu.py)."""
    from orchestration.runtime.sfn import REGISTRY

    meter = Meter(store_dir=stack.pg.data_dir, emulator_pid=getattr(stack.moto, "pid", None))
    instrument(REGISTRY, meter)
    follow_pools(meter)
    follow_full_gc(meter)
    return meter


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else float("nan"),
    }


@dataclass
class Report:
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    #: lines printed under the table (the stream's "stream: N records, lost 0, duplicated 0", the rate probe)
    notes: list[str] = field(default_factory=list)
    directory: Path = REPORT_DIR

    def add(self, name: str, data: dict[str, Any]) -> None:
        self.sections[name] = data
        print(f"\n== {name}\n{json.dumps(data, indent=2, default=str)}", flush=True)

    def row(self, row: Row) -> None:
        self.rows.append(row)
        print("\n".join(markdown([row])[2:]), flush=True)

    def note(self, line: str) -> None:
        self.notes.append(line)
        print(line, flush=True)

    def write(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        m = machine()
        doc: dict[str, Any] = {
            "machine": m,
            "rows": [r.to_json() for r in self.rows],
            "notes": self.notes,
            **self.sections,
        }
        path = self.directory / "report.json"
        path.write_text(json.dumps(doc, indent=2, default=str))
        md = ["# MTX pipeline benchmark report", "", "## Machine", ""]
        md += [f"- {k}: {v}" for k, v in m.items()]
        if self.rows:
            md += [
                "",
                "## Whose time it is",
                "",
                f"{m['cpus']} cores, {m['cpu']}. CPU seconds by owner "
                "(benchmarks/cpu.py, docs/benchmarks.md); ratios are the row's over the floor's, same run.",
                "",
            ]
            md += markdown(self.rows)
        md += [""] + [f"    {line}" for line in self.notes] if self.notes else []
        for name, data in self.sections.items():
            md += ["", f"## {name}", "", "```json", json.dumps(data, indent=2, default=str), "```"]
        (self.directory / "report.md").write_text("\n".join(md) + "\n")
        return path
