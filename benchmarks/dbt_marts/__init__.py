"""dbt marts: full and incremental builds of the dbt project over n raw transactions.

``raw.mtx_transactions`` is filled with n deterministic pseudo-random rows by one
SQL statement (generate_series + hashint8extended): catalogue items, currencies
of the exchange-rate seed, contract enums, events over 90 days.

dbt runs two ways. As BuildMarts runs it (the analytics refresh): in this
process through ``invoke_dbt`` (dbtRunner), imported once and kept warm, as a
warm Lambda or the local runtime does; the targets are read against these
figures. And as the ``dbt`` command a user types: a fresh process each time,
which pays dbt's imports and partial parse (3-5 s here, more under load).
Timed: ``dbt parse`` (cold command), a no-op ``dbt run`` selecting nothing
(the fixed cost of a command, both ways), ``dbt build --full-refresh`` (both
ways) and ``dbt run --full-refresh``.
The baseline and the full build (both ways) alternate twice; each keeps its best time.
Baseline, same run, same rows: the same tables written by hand as
``CREATE TABLE ... AS`` statements (psycopg, schema ``bench_baseline``); their
content is compared with dbt's tables (EXCEPT ALL both ways). They make the models'
SQL choices too (the player-month intermediate, distinct ids counted bytewise), so
the ratio measures what dbt adds, not a difference in the queries.
Size: ``MTX_BENCH_DBT_ROWS`` raw rows (default 1,000,000).

Incremental: three times 1% new rows (newer loaded_at) and ``dbt run``, the best
of the three compared (as the full build is); then ``dbt run`` twice with no new
rows (dbt's fixed cost, the floor under it; the better one is kept); another 1%
then ``dbt build``, another 1% then ``dbt run`` as a command; shares of the full
build (the issue's target: the incremental run under 15% of the full build). The
marts after the incremental runs are compared with a baseline recomputation from
scratch. Last, the incremental runs again over a year of history (same rows).

Here: ``run`` (the sequence and the report). ``data.py``: the raw rows. ``baseline.py``
runs ``baseline.sql``, the hand-written tables, and compares them with dbt's.
``runners.py``: dbt as a command and in process, the incremental runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg

from benchmarks.common import Report, bench_stack, env_int, repeats
from benchmarks.dbt_marts.baseline import compare, run_baseline
from benchmarks.dbt_marts.data import DAYS, fill_raw, late_batch, load_day_after, load_prices, raw_profile
from benchmarks.dbt_marts.runners import (
    Dbt,
    Runner,
    inc_repeats,
    incremental_runs,
    rounded,
    share_of_node_seconds,
    year_of_history,
)

#: full builds and baselines, alternated; each side keeps its best time
REPEATS = 2


def run(report: Report, n: int | None = None) -> None:
    if n is None:
        n = env_int("MTX_BENCH_DBT_ROWS", 1_000_000)
    with bench_stack(time_scale=1.0) as stack:
        home = stack.home
        dsn = stack.dsn("warehouse")
        dbt = Dbt(stack, home)
        with psycopg.connect(dsn, autocommit=True) as conn:
            load_prices(conn)
            t0 = time.perf_counter()
            fill_raw(conn, 0, n, loaded_at="hourly", salt=0, days=(0, DAYS))
            fill_s = time.perf_counter() - t0

        # dbt as a command: a fresh process pays imports and parsing every time
        parse_s = dbt("parse", "--no-partial-parse")
        dbt("parse")  # leaves a partial-parse file: later commands start like a warm deployment
        noop_cli_s = dbt("run", "--select", "tag:mtx_bench_nothing")

        # dbt as BuildMarts runs it (in process, warm): the figures the targets are read against
        runner = Runner()
        first_runner_s = runner("parse")  # a cold container: imports dbt, parses
        noop_s = runner("run", "--select", "tag:mtx_bench_nothing")
        # this box is noisy (one effective core, autovacuum after every million-row table): the
        # baseline, the full build and the full build as a command alternate, twice; each keeps its best
        # (seconds, what that sample measured per step or node): the best sample keeps its detail
        baselines: list[tuple[float, dict[str, float]]] = []
        builds: list[tuple[float, dict[str, Any]]] = []
        cli_builds: list[float] = []
        for _ in range(repeats(REPEATS)):
            baselines.append(run_baseline(dsn))
            builds.append((runner("build", "--full-refresh"), runner.node_seconds()))
            cli_builds.append(dbt("build", "--full-refresh"))
        base_s, base_steps = min(baselines, key=lambda sample: sample[0])
        build_full_s, build_full_nodes = min(builds, key=lambda sample: sample[0])
        build_full_cli_s = min(cli_builds)
        run_full_s = runner("run", "--full-refresh")
        run_full_nodes = runner.node_seconds()
        full_check = compare(dsn)

        delta = max(1, n // 100)

        # incremental runs, each after its own 1% batch; the best one is compared, as for the full build
        incs = incremental_runs(runner, dsn, n, delta, days=DAYS, load_day=load_day_after(DAYS), salt=101)
        run_inc_s, run_inc_nodes = min(incs, key=lambda sample: sample[0])
        # the floor under them: the same run with nothing new to process (watermarks, dbt's per-model work)
        noops = [(runner("run"), runner.node_seconds()) for _ in range(repeats(2))]
        noop_inc_s, noop_inc_nodes = min(noops, key=lambda sample: sample[0])
        late_batch(
            dsn, n + inc_repeats() * delta, delta, loaded_at=f"{load_day_after(DAYS)} 18:00:00", salt=707, days=DAYS
        )
        build_inc_s = runner("build")
        build_inc_nodes = runner.node_seconds()
        after = n + (inc_repeats() + 1) * delta
        late_batch(dsn, after, delta, loaded_at=f"{load_day_after(DAYS)} 21:00:00", salt=808, days=DAYS)
        run_inc_cli_s = dbt("run")
        base2_s, _ = run_baseline(dsn)
        inc_check = compare(dsn)
        raw = raw_profile(dsn)
        year = year_of_history(runner, dsn, n)

        data = {
            "raw_rows": n,
            "raw_profile_before_the_year_run": raw,
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "incremental_batch_rows": delta,
            "fill_raw_seconds": rounded(fill_s),
            "how_dbt_runs": (
                "runner = the way BuildMarts (the analytics refresh) runs dbt: in process through dbtRunner, "
                "imported once and kept warm, as a warm Lambda or the local runtime does; the targets are read "
                "against it; a cold container (the daily schedule mostly finds one) adds "
                "runner_first_invocation_seconds once. cli = `dbt ...` typed in a shell: a fresh process each "
                "time, which first imports dbt and reads its partial-parse file (see dbt_overhead)"
            ),
            "dbt_overhead": {
                "cli_parse_no_partial_parse_seconds": rounded(parse_s),
                "cli_noop_run_seconds": rounded(noop_cli_s),
                "runner_first_invocation_seconds": rounded(first_runner_s),
                "runner_noop_run_seconds": rounded(noop_s),
                "note": "noop = `dbt run` selecting nothing, with the partial-parse file: fixed cost of a command",
            },
            "full_refresh": {
                "dbt_build_seconds": rounded(build_full_s),
                "dbt_run_seconds": rounded(run_full_s),
                "cli_dbt_build_seconds": rounded(build_full_cli_s),
                "baseline_ctas_seconds": rounded(base_s),
                "samples": {
                    "dbt_build_seconds": [rounded(x) for x, _ in builds],
                    "baseline_ctas_seconds": [rounded(x) for x, _ in baselines],
                    "cli_dbt_build_seconds": [rounded(x) for x in cli_builds],
                    "note": f"alternated, {repeats(REPEATS)} each; the best of each side is compared",
                },
                "baseline_steps_seconds": base_steps,
                "ratio_dbt_build_vs_baseline": rounded(build_full_s / base_s),
                "ratio_dbt_run_vs_baseline": rounded(run_full_s / base_s),
                "ratio_cli_dbt_build_vs_baseline": rounded(build_full_cli_s / base_s),
                "target_ratio_build": 1.5,
                "build_within_target": build_full_s / base_s <= 1.5,
                "cli_build_within_target": build_full_cli_s / base_s <= 1.5,
                "baseline_same_content_as_dbt": full_check,
            },
            "incremental_1pct": {
                "dbt_run_seconds": rounded(run_inc_s),
                "dbt_run_samples_seconds": [rounded(x) for x, _ in incs],
                "noop_dbt_run_seconds": rounded(noop_inc_s),
                "noop_run_share_of_full_build": rounded(noop_inc_s / build_full_s),
                "note_noop": (
                    "an incremental `dbt run` with no new rows: dbt's fixed cost per command and per model "
                    "(watermark queries, temporary table, contract and schema checks, grants, comments), "
                    "the floor under the incremental run on this machine"
                ),
                "dbt_build_seconds": rounded(build_inc_s),
                "cli_dbt_run_seconds": rounded(run_inc_cli_s),
                "run_share_of_full_build": rounded(run_inc_s / build_full_s),
                "run_share_of_full_run": rounded(run_inc_s / run_full_s),
                "build_share_of_full_build": rounded(build_inc_s / build_full_s),
                "cli_run_share_of_cli_full_build": rounded(run_inc_cli_s / build_full_cli_s),
                "target_share": 0.15,
                "run_within_target": run_inc_s / build_full_s <= 0.15,
                "note_target": (
                    "the issue's target: the incremental `dbt run` after 1% new rows as a share of the full "
                    "`dbt build`; the other shares are reported beside it"
                ),
                "run_share_of_node_seconds": share_of_node_seconds(run_inc_nodes, run_full_nodes),
                "build_share_of_node_seconds": share_of_node_seconds(build_inc_nodes, build_full_nodes),
                "note_node_seconds": (
                    "informational: the same shares over the sum of dbt's per-node seconds, i.e. without "
                    "the fixed cost of each command; per-node overhead stays in"
                ),
                "baseline_recompute_seconds_at_103pct": rounded(base2_s),
                "marts_after_incrementals_equal_full_recompute": inc_check,
            },
            "dbt_node_seconds": {
                "note": "dbt's own per-node execution times (runner); the rest of a command is fixed cost",
                "full_build": build_full_nodes,
                "full_run": run_full_nodes,
                "incremental_run": run_inc_nodes,
                "incremental_run_no_new_rows": noop_inc_nodes,
                "incremental_build": build_inc_nodes,
            },
            "note": (
                "dbt build = seed + models + data/unit tests + grants; dbt run = models + grants only. "
                "Baseline = hand-written CREATE TABLE AS (+ ANALYZE of the tables read again), no indexes, "
                "no tests, no grants; dbt also creates the indexes its incremental runs rely on."
            ),
        }
        data["incremental_1pct_year_of_history"] = year
        report.add("dbt marts (full vs hand-written SQL, incremental)", data)
