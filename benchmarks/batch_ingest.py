"""Batch ingest: 1,000,000 generated transactions through the real batch state machine.

Size: ``MTX_BENCH_BATCH_RECORDS`` records (default 1,000,000; the second run is a quarter of it).

Baseline, same run, same file: parse every line and COPY the valid rows into a
bare PostgreSQL table (no validation, no catalogue, no merge, no S3, no DLQ).
Also the peak resident memory of the process during a run at two file sizes:
the file is streamed, so the peak must not grow with the file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.common import Report, bench_stack
from orchestration.cli import batch
from orchestration.runtime import local_workers
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import write_ndjson


def _rss_of(pid: int | str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int | str) -> list[str]:
    out: list[str] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += (task / "children").read_text().split()
    except OSError:
        pass
    return out


def _rss_mib() -> float:
    """Resident memory of this process and of its Python worker processes (local Lambda workers,
    ``orchestration/runtime/local_workers.py``); PostgreSQL runs as another user's processes and is left out."""
    total = _rss_of("self")
    for child in _children("self"):
        try:
            if "python" in Path(f"/proc/{child}/comm").read_text():
                total += _rss_of(child)
        except OSError:
            continue
    return total


class PeakRss:
    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _rss_mib())

    def __enter__(self) -> PeakRss:
        self.start = _rss_mib()
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def baseline_copy(dsn: str, path: Path) -> tuple[float, int]:
    with psycopg.connect(dsn) as conn:
        conn.execute("drop table if exists bench_bare")
        conn.execute("create table bench_bare (transaction_id text, user_id text, amount numeric, raw jsonb)")
        t0 = time.perf_counter()
        rows = 0
        with conn.cursor().copy("copy bench_bare from stdin") as copy, path.open("rb") as fh:
            for raw in fh:
                try:
                    rec = json.loads(raw)
                    amount = rec["item_purchased"]["price"]["amount"]
                    if isinstance(amount, bool) or not isinstance(amount, int | float):
                        continue
                    copy.write_row((rec["transactionId"], rec["user_id"], amount, raw.decode().strip()))
                    rows += 1
                except (ValueError, KeyError, TypeError):
                    continue
        conn.commit()
        elapsed = time.perf_counter() - t0
        conn.execute("drop table bench_bare")
    return elapsed, rows


def ingest(stack: LocalStack, path: Path) -> tuple[float, dict[str, Any], PeakRss]:
    s = stack.require_settings()
    with PeakRss() as mem:
        t0 = time.perf_counter()
        key = batch.upload(stack.client, s, path)
        run = batch.wait_for_run(stack.client, s, key, timeout=7200)
        elapsed = time.perf_counter() - t0
    runs = [r for r in batch.runs(stack.client, s) if r.get("object_key") == key]
    assert len(runs) == 1, f"one file, one run: got {len(runs)}"
    return elapsed, run, mem


def run(report: Report, n: int | None = None) -> None:
    n = n or int(os.environ.get("MTX_BENCH_BATCH_RECORDS", "1000000").replace("_", ""))
    with bench_stack(time_scale=1.0) as stack:
        home = stack.home
        small = home / "small.ndjson"
        big = home / "big.ndjson"
        t0 = time.perf_counter()
        write_ndjson(big, n, seed=11, invalid_share=0.04, duplicate_share=0.01)
        gen_s = time.perf_counter() - t0
        write_ndjson(small, n // 4, seed=12, invalid_share=0.04, duplicate_share=0.01)

        base_s, base_rows = baseline_copy(stack.dsn("compliance"), big)
        small_s, small_run, small_mem = ingest(stack, small)
        big_s, big_run, big_mem = ingest(stack, big)
        data = {
            "records": n,
            "file_mib": round(big.stat().st_size / 2**20, 1),
            "generate_seconds": round(gen_s, 1),
            "baseline_parse_and_copy": {"seconds": round(base_s, 1), "rows_per_s": round(base_rows / base_s)},
            "batch_state_machine": {
                "seconds": round(big_s, 1),
                "transactions_per_s": round(n / big_s),
                "run": {
                    k: big_run.get(k)
                    for k in ("status", "chunks", "records", "stored", "duplicates", "dead_lettered", "failed")
                },
            },
            "ratio_batch_seconds_vs_baseline": round(big_s / base_s, 2),
            "target_ratio": 2.0,
            "peak_rss_mib": {
                f"{n // 4}_records": round(small_mem.peak - small_mem.start, 1),
                f"{n}_records": round(big_mem.peak - big_mem.start, 1),
                "note": "growth of the resident memory of the process and its local Lambda worker processes "
                "during the run; flat = streaming",
            },
            "local_worker_processes": local_workers.worker_processes(),
            "small_run_seconds": round(small_s, 1),
            "small_run_status": small_run.get("status"),
        }
        report.add("batch ingest (issue 4)", data)
