"""Batch ingest: 1,000,000 generated transactions through the real batch state machine.

Size: ``MTX_BENCH_BATCH_RECORDS`` records (default 1,000,000; the second run is a quarter of it).

Floor, same run, same file: parse + validate + COPY into a bare PostgreSQL table (benchmarks/floors.py: no
catalogue, no merge, no S3, no DLQ). Wall and CPU by owner (benchmarks/cpu.py): the upload and the polling
for the run's end are the driver's, the handlers' calls the product's, the rest of the process the emulator's.
Also the peak resident memory of the process during a run at two file sizes:
the file is streamed, so the peak must not grow with the file.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.calls import counted
from benchmarks.common import Report, bench_stack, env_int, metered
from benchmarks.cpu import DRIVER, Meter, Split
from benchmarks.floors import parse_validate_copy
from benchmarks.stages import BATCH_FUNCTIONS, BATCH_GENERATORS, staged
from benchmarks.table import Floor, Row
from lambdas.process_chunk import handler as chunk_handler
from orchestration.cli import batch
from orchestration.runtime import local_workers
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import write_ndjson

TARGET = "product CPU <= 1.5x floor CPU"


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


def ingest(stack: LocalStack, path: Path, meter: Meter) -> tuple[Split, dict[str, Any], PeakRss]:
    s = stack.require_settings()
    with PeakRss() as mem, meter.phase() as split, meter.role(DRIVER):
        key = batch.upload(stack.client, s, path)
        run = batch.wait_for_run(stack.client, s, key, timeout=7200)
    runs = [r for r in batch.runs(stack.client, s) if r.get("object_key") == key]
    assert len(runs) == 1, f"one file, one run: got {len(runs)}"
    return split, run, mem


def run(report: Report, n: int | None = None) -> None:
    n = n or env_int("MTX_BENCH_BATCH_RECORDS", 1_000_000)
    with bench_stack(time_scale=1.0) as stack:
        home = stack.home
        small = home / "small.ndjson"
        big = home / "big.ndjson"
        t0 = time.perf_counter()
        write_ndjson(big, n, seed=11, invalid_share=0.04, duplicate_share=0.01)
        gen_s = time.perf_counter() - t0
        write_ndjson(small, n // 4, seed=12, invalid_share=0.04, duplicate_share=0.01)

        meter = metered(stack)
        floor, base_rows = parse_validate_copy(meter, stack.pg.dsn("compliance"), big)
        small_split, small_run, small_mem = ingest(stack, small, meter)
        # the handler's CPU by stage (in this process unless MTX_LOCAL_WORKER_PROCESSES / MTX_LOCAL_PROCESSES)
        with staged(chunk_handler, BATCH_FUNCTIONS, BATCH_GENERATORS) as stages, counted(meter) as calls:
            split, big_run, big_mem = ingest(stack, big, meter)
        big_s = split.wall_s
        data = {
            "records": n,
            "file_mib": round(big.stat().st_size / 2**20, 1),
            "generate_seconds": round(gen_s, 1),
            "floor_parse_validate_copy": {**floor.rounded(), "rows_per_s": round(base_rows / floor.wall_s)},
            "batch_state_machine": {
                **split.rounded(),
                "transactions_per_s": round(n / big_s),
                "run": {
                    k: big_run.get(k)
                    for k in ("status", "chunks", "records", "stored", "duplicates", "dead_lettered", "failed")
                },
            },
            "ratio_batch_seconds_vs_floor": round(big_s / floor.wall_s, 2),
            "ratio_product_cpu_vs_floor_cpu": round(split.product_cpu_s / floor.product_cpu_s, 2),
            "target": TARGET,
            "peak_rss_mib": {
                f"{n // 4}_records": round(small_mem.peak - small_mem.start, 1),
                f"{n}_records": round(big_mem.peak - big_mem.start, 1),
                "note": "growth of the resident memory of the process and its local Lambda worker processes "
                "during the run; flat = streaming",
            },
            "local_worker_processes": local_workers.worker_processes(),
            "small_run": {**small_split.rounded(), "status": small_run.get("status")},
            "product_aws_calls": calls.document(),
        }
        report.add("batch ingest (issue 4)", data)
        report.row(Row(f"batch path, {n:,} records", split, [Floor("parse + validate + COPY", floor)], TARGET))
        if stages.seconds:
            rest = "the rest (decode, ownership, metrics, logs, tracing; the run's other functions: split, finalize)"
            report.note(stages.line(f"batch path by stage, {n:,} records", split.product_cpu_s, n, rest))
        if calls.total_calls and not split.children_cpu_s:  # calls made in worker processes are not seen
            report.note(calls.line(f"batch path's AWS calls, {n:,} records", split.product_cpu_s, floor.product_cpu_s))
