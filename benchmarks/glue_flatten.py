"""Glue flatten: the Spark job's transforms on n generated records, local files.

Baseline, same run, same NDJSON files: DuckDB and pyarrow flattening them to the
same warehouse columns in Parquet. Spark start-up (JVM + session) is timed
apart and excluded from the rates. Every engine runs ``rounds`` times: round 1
is cold (JVM JIT, codegen), the rates compared are the best of the warm rounds (3 rounds; with
``MTX_BENCH_REPEATS=1`` one round, and the "best warm" figures are that cold round: the report says so).
Reuses the functions of ``glue_jobs/flatten_transactions/benchmark.py``. Size: ``MTX_BENCH_GLUE_RECORDS``
(default 1,000,000).

The job's floor, the target's (<= 1.5x): bare Spark read + write of the same files (:func:`spark_bare`: the
same schema and read options, Parquet out, nothing else). CPU of each run: this whole process and its
children (Spark's JVM) over the run, charged to the engine that ran (benchmarks/cpu.py; no emulator here).

What is timed on the Spark side (``spark_job_transforms``) is ``run.flatten_and_write``,
the call ``run_job`` makes: read with the contract schema, contract rules (rejects),
flatten, deduplicate, curated Parquet write, counts. Not timed on either side: the
S3 download/upload and the warehouse COPY + merge (driver-side psycopg, no Spark).
The baselines only read, flatten and write; ``duckdb_dedup`` also deduplicates like
the job (reported, not the target's baseline).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.common import Report, env_int, repeats
from benchmarks.cpu import PRODUCT, Meter, Split
from benchmarks.table import Floor, Row
from glue_jobs.flatten_transactions.benchmark import (
    duckdb_flatten,
    make_records,
    pyarrow_flatten,
    spark_flatten,
    timed,
    write_files,
)

TARGET_RATIO = 3.0
TARGET = "product CPU <= 1.5x bare Spark read + write"


def spark_bare(spark: Any, base: Path, out: Path) -> int:
    """The job's floor: the same files read with the same schema and options, written as Parquet, nothing
    else (no rules, no flatten, no dedup, no partitioning by day)."""
    from glue_jobs.flatten_transactions import transforms
    from glue_jobs.flatten_transactions.schema import read_schema

    paths = sorted(str(p) for p in base.glob("dt=*"))
    reader = spark.read.schema(read_schema()).options(**transforms.READ_OPTIONS).option("basePath", str(base))
    reader.json(paths).write.mode("overwrite").parquet(str(out))
    return sum(1 for _ in out.glob("*.parquet"))


ONE_ROUND = "one round: the best-warm figures and ratios are the cold round's"


def run(report: Report, n: int | None = None, days: int = 8, files_per_day: int = 5, rounds: int | None = None) -> None:
    n = n or env_int("MTX_BENCH_GLUE_RECORDS", 1_000_000)
    rounds = rounds or repeats(3)
    root = Path(tempfile.mkdtemp(prefix="mtx-bench-flatten-"))
    root.chmod(0o755)
    spark = None
    try:
        gen_s, lines = timed(lambda: make_records(n, days))
        base = write_files(root / "in", lines, files_per_day)
        del lines
        size = sum(p.stat().st_size for p in base.rglob("*.ndjson"))

        from glue_jobs.flatten_transactions import run

        startup_s, spark = timed(lambda: run.local_spark_session(app_name="mtx-bench-flatten", master="local[*]"))
        runs: list[tuple[str, Callable[[Path], int]]] = [
            ("duckdb", lambda out: duckdb_flatten(base, out)),
            ("duckdb_dedup", lambda out: duckdb_flatten(base, out, dedup=True)),
            ("pyarrow", lambda out: pyarrow_flatten(base, out)),
            ("spark_bare_read_write", lambda out: spark_bare(spark, base, out)),
            ("spark_flatten_only", lambda out: spark_flatten(spark, base, out, full=False)),
            ("spark_job_transforms", lambda out: spark_flatten(spark, base, out, full=True, expect_rows=n)),
        ]
        seconds: dict[str, list[float]] = {name: [] for name, _ in runs}
        splits: dict[str, list[Split]] = {name: [] for name, _ in runs}
        meter = Meter()
        spark_jobs: dict[str, int] = {}
        sc = spark.sparkContext
        for attempt in range(1, rounds + 1):
            for name, fn in runs:
                out = root / f"out-{name}-{attempt}"
                group = f"bench-{name}-{attempt}"
                sc.setJobGroup(group, name)
                # no emulator here: the whole process (Spark's driver, DuckDB's threads) and its children
                # (Spark's JVM) are the engine's
                with meter.phase(whole_process=PRODUCT) as split:
                    s, _files = timed(partial(fn, out))
                splits[name].append(split)
                spark_jobs[name] = len(sc.statusTracker().getJobIdsForGroup(group))
                seconds[name].append(s)
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(f"{out}-rejects", ignore_errors=True)

        def best_warm(name: str) -> float:
            warm = seconds[name][1:] or seconds[name]
            return min(warm)

        rates = {name: round(n / best_warm(name)) for name in seconds}
        baseline_name = max(("duckdb", "pyarrow"), key=lambda k: rates[k])
        spark_s = best_warm("spark_job_transforms")
        base_s = best_warm(baseline_name)
        data = {
            "records": n,
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "ndjson_mib": round(size / 2**20, 1),
            "files": days * files_per_day,
            "generate_seconds": round(gen_s, 1),
            "spark_startup_seconds": round(startup_s, 1),
            "rounds": rounds,
            **({"note_rounds": ONE_ROUND} if rounds < 2 else {}),
            "seconds_per_round": {k: [round(s, 2) for s in v] for k, v in seconds.items()},
            "rows_per_s_best_warm": rates,
            "cold_rows_per_s": {k: round(n / v[0]) for k, v in seconds.items()},
            "baseline": baseline_name,
            "ratio_spark_job_seconds_vs_baseline": round(spark_s / base_s, 2),
            "ratio_spark_job_seconds_vs_spark_bare_read_write": round(spark_s / best_warm("spark_bare_read_write"), 2),
            "ratio_spark_flatten_only_seconds_vs_baseline": round(best_warm("spark_flatten_only") / base_s, 2),
            "ratio_spark_job_seconds_vs_duckdb": round(spark_s / best_warm("duckdb"), 2),
            "ratio_spark_job_seconds_vs_pyarrow": round(spark_s / best_warm("pyarrow"), 2),
            "ratio_spark_job_seconds_vs_duckdb_dedup": round(spark_s / best_warm("duckdb_dedup"), 2),
            "spark_jobs_per_run": {k: v for k, v in spark_jobs.items() if k.startswith("spark")},
            "target_ratio": TARGET_RATIO,
            "within_target": spark_s / base_s <= TARGET_RATIO,
            "note": (
                "spark_job_transforms = run.flatten_and_write, the job's whole Spark phase (contract rules + "
                "rejects, flatten, dedup, curated write, counts observed during the write); spark_flatten_only "
                "skips rules and dedup, like the baselines; duckdb_dedup adds the job's dedup to DuckDB. S3 "
                "transfer and the warehouse load are not timed on any side. Rates exclude Spark start-up and "
                "use the best warm round; baseline = the faster of DuckDB and pyarrow (flatten only)."
            ),
        }
        report.add("glue flatten (spark vs duckdb/pyarrow)", data)

        def best_split(name: str) -> Split:
            warm = splits[name][1:] or splits[name]
            return min(warm, key=lambda sp: sp.wall_s)

        floors = [Floor("bare Spark read + write", best_split("spark_bare_read_write")),
                  Floor("DuckDB flatten (reference)", best_split("duckdb"))]  # fmt: skip
        report.row(Row(f"Glue job (flatten_and_write), {n:,} records", best_split("spark_job_transforms"), floors,
                       TARGET, {"cpu_per_round": {k: [round(sp.product_cpu_s, 2) for sp in v]
                                                  for k, v in splits.items()}}))  # fmt: skip
    finally:
        if spark is not None:
            spark.stop()
        shutil.rmtree(root, ignore_errors=True)
