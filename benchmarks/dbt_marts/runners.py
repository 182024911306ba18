"""dbt two ways for the benchmark, and the incremental measurements.

``Dbt``: the ``dbt`` command a user types (a fresh process each time). ``Runner``: dbt as
BuildMarts runs it, in this process through ``invoke_dbt`` (imported once, kept warm).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.common import repeats
from benchmarks.dbt_marts.baseline import SCHEMA
from benchmarks.dbt_marts.data import fill_raw, late_batch, load_day_after, load_prices
from orchestration.runtime.stack import LocalStack
from orchestration.settings import REPO_ROOT

DBT_DIR = REPO_ROOT / "dbt"
#: incremental runs after 1% new rows each; the best is compared (the box is noisy)
INC_REPEATS = 3


def inc_repeats() -> int:
    """INC_REPEATS, or fewer when the run asks for fewer repeats (``MTX_BENCH_REPEATS``; never more: batch k
    loads at 06:00 + 3k h, before the 18:00 and 21:00 batches that follow them)."""
    return repeats(INC_REPEATS)


class Dbt:
    """`dbt` as a command (a fresh process each time: what a user types)."""

    def __init__(self, stack: LocalStack, work: Path) -> None:
        self.env = {
            **os.environ,
            **stack.env(),
            "MTX_DBT_SCHEMA": SCHEMA,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        self.exe = str(Path(sys.executable).with_name("dbt"))
        self.work = work

    def __call__(self, *args: str) -> float:
        cmd = [
            self.exe, *args,
            "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target", "local",
            "--target-path", str(self.work / "target"), "--log-path", str(self.work / "logs"),
        ]  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=DBT_DIR, check=False)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            tail = "\n".join(done.stdout.strip().splitlines()[-30:])
            raise RuntimeError(f"dbt {' '.join(args)} failed (exit {done.returncode}):\n{tail}\n{done.stderr[-2000:]}")
        return elapsed


class Runner:
    """dbt as BuildMarts runs it: in this process (`invoke_dbt`), dbt imported once and kept warm."""

    def __init__(self) -> None:
        os.environ["MTX_DBT_SCHEMA"] = SCHEMA
        self.last: dict[str, Any] = {}

    def __call__(self, *args: str) -> float:
        from lambdas.build_marts.handler import invoke_dbt

        done = invoke_dbt(*args, target="local")
        if not done.success:
            raise RuntimeError(f"{done.summary()} failed: {done.failure_reason()}")
        per = {n.unique_id.split(".", 2)[-1]: round(n.seconds, 2) for n in done.nodes}
        top = dict(sorted(per.items(), key=lambda kv: -kv[1])[:12])
        self.last = {"sum_seconds": rounded(sum(per.values())), "nodes": len(per), "slowest": top}
        return done.seconds

    def node_seconds(self) -> dict[str, Any]:
        """Seconds per node of the last command (dbt's own results), slowest first, and their sum."""
        return self.last


def incremental_runs(
    runner: Runner, dsn: str, first: int, delta: int, *, days: int, load_day: str, salt: int
) -> list[tuple[float, dict[str, Any]]]:
    """inc_repeats() times: a late batch of delta rows, then `dbt run`; (seconds, node seconds) of each run."""
    samples = []
    for k in range(inc_repeats()):
        late_batch(
            dsn, first + k * delta, delta, loaded_at=f"{load_day} {6 + 3 * k:02d}:00:00", salt=salt * (k + 1),
            days=days,
        )  # fmt: skip
        samples.append((runner("run"), runner.node_seconds()))
    return samples


def year_of_history(runner: Runner, dsn: str, n: int) -> dict[str, Any]:
    """The incremental measurement again with the same n rows spread over a year instead of 90 days.

    A late batch lands in the last days, so the month-grain marts recompute that month whole (ranks,
    shares and distinct buyers are not additive): a third of all rows over 90 days, a twelfth over a
    year. Raw is refilled; nothing after this reads the 90-day tables.
    """
    days, delta = 365, max(1, n // 100)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("truncate raw.mtx_transactions")
        load_prices(conn)
        fill_raw(conn, 0, n, loaded_at="hourly", salt=0, days=(0, days))
    build_s = runner("build", "--full-refresh")
    runs = [
        seconds
        for seconds, _ in incremental_runs(runner, dsn, n, delta, days=days, load_day=load_day_after(days), salt=901)
    ]
    return {
        "days_of_history": days,
        "dbt_build_full_refresh_seconds": rounded(build_s),
        "dbt_run_samples_seconds": [rounded(x) for x in runs],
        "run_share_of_full_build": rounded(min(runs) / build_s),
        "note": (
            "same rows, same 1% late batches (last 3 days), history over a year: the month the batch lands "
            "in holds a twelfth of the rows instead of a third; the best of the samples is compared"
        ),
    }


def rounded(x: float) -> float:
    """Seconds as reported: two decimals."""
    return round(x, 2)


def share_of_node_seconds(part: dict[str, Any], whole: dict[str, Any]) -> float | None:
    """part's sum of per-node seconds over whole's (None when either is missing)."""
    if not part.get("sum_seconds") or not whole.get("sum_seconds"):
        return None
    return rounded(part["sum_seconds"] / whole["sum_seconds"])
