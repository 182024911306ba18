"""The analytics API: synchronous requests/s and p95 latency, cached and uncached.

Marts are built by dbt from raw rows generated in SQL (benchmarks.dbt_marts); the
requests go over HTTP to the local API, as a dashboard would send them. Uncached:
every request carries a distinct parameter value (a distinct cache key), so each
reaches the warehouse; cached: the same request repeated. The baseline, in the
same run, is the cached path: what the API costs when the warehouse is not asked.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from typing import Any

import psycopg

from benchmarks.common import Report, bench_stack, env_int, summary
from benchmarks.dbt_marts.data import DAYS, fill_raw, load_prices
from benchmarks.dbt_marts.runners import Dbt
from orchestration.runtime.auth import ANALYST


def _player(i: int) -> str:
    return f"min_purchases={1 + i % 5}&limit={50 + i}"


def _revenue(i: int) -> str:
    start = dt.date(2025, 10, 1) + dt.timedelta(days=i % 60)
    return f"period=day&start_date={start}&end_date={start + dt.timedelta(days=30 + i // 60)}"


#: operation -> the i-th distinct query (a distinct cache key, about the same work)
OPERATIONS = {"player_analysis": _player, "revenue_analysis": _revenue}


def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as resp:
        return resp.status, json.loads(resp.read())


def _measure(urls: list[str], headers: dict[str, str]) -> tuple[float, list[float], int]:
    lat = []
    cached = 0
    t0 = time.perf_counter()
    for url in urls:
        t = time.perf_counter()
        status, body = _get(url, headers)
        lat.append(time.perf_counter() - t)
        assert status == 200, body
        cached += bool(body.get("cached"))
    return time.perf_counter() - t0, lat, cached


def run(report: Report, n: int | None = None, requests: int | None = None) -> None:
    n = n or env_int("MTX_BENCH_API_ROWS", 100_000)
    requests = requests or env_int("MTX_BENCH_API_REQUESTS", 200)
    with bench_stack(time_scale=1.0) as stack:
        home = stack.home
        dsn = stack.dsn("warehouse")
        with psycopg.connect(dsn, autocommit=True) as conn:
            load_prices(conn)
            fill_raw(conn, 0, n, loaded_at="hourly", salt=0, days=(0, DAYS))
        Dbt(stack, home)("build")
        assert stack.api is not None
        data: dict[str, Any] = {"raw_rows": n, "requests_per_phase": requests}
        for op, query in OPERATIONS.items():
            base = f"{stack.api.url}/analytics?operation={op}"
            uncached = [f"{base}&{query(i)}" for i in range(requests)]
            up_s, up_lat, up_hits = _measure(uncached, stack.api_headers(ANALYST))
            hot = [uncached[0]] * requests
            hot_s, hot_lat, hot_hits = _measure(hot, stack.api_headers(ANALYST))
            data[op] = {
                "uncached": {"requests_per_s": round(requests / up_s, 1), **summary(up_lat), "cache_hits": up_hits},
                "cached": {"requests_per_s": round(requests / hot_s, 1), **summary(hot_lat), "cache_hits": hot_hits},
                "ratio_cached_vs_uncached_p95": round(summary(hot_lat)["p95_ms"] / summary(up_lat)["p95_ms"], 3),
            }
        report.add("analytics API (issue 9)", data)
