"""The transaction workflow, locally: executions/s and p50/p95 latency.

Baseline, same run, same transactions: the same handlers called directly one
after the other (validate, check item, store compliance, strip PII, store
analytics), without the state machine. The ratio is the interpreter's (and the
integrations') overhead on this machine.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.common import Report, bench_stack, summary
from orchestration.runtime.ingest import submit, wait_for
from orchestration.sample_data.generate import generate


def _direct(line: str, received_at: str) -> None:
    from lambdas.check_item.handler import check_item
    from lambdas.store_analytics.handler import store as store_analytics
    from lambdas.store_compliance.handler import store as store_compliance
    from lambdas.strip_pii.handler import strip
    from lambdas.validate_transaction.handler import validate

    v = validate({"transaction": json.loads(line), "received_at": received_at})
    if not check_item(v["transaction"])["ok"]:
        return
    store_compliance(v["transaction"])
    s = strip(v)
    store_analytics(s["record"], s["transaction_id"], s["event_date"])


def run(report: Report, n: int = 600, concurrency: int = 8) -> None:
    with bench_stack(time_scale=0.0) as stack:
        s = stack.require_settings()

        def lines(seed: int) -> list[str]:
            return [r.line for r in generate(n, seed=seed, invalid_share=0.0, duplicate_share=0.0)]

        # baseline: handlers directly, sequential
        batch = lines(1)
        lat: list[float] = []
        t0 = time.perf_counter()
        for line in batch:
            t = time.perf_counter()
            _direct(line, "2026-11-22T00:00:00Z")
            lat.append(time.perf_counter() - t)
        base_s = time.perf_counter() - t0

        def send(line: str) -> str:
            sub = submit(
                line,
                settings=s,
                clients=stack.client,
                state_machine_arn=stack.state_machine_arn("transaction"),
                queue_url=stack.dead_letter_queue_url,
            )
            assert sub.execution_arn is not None, sub.body
            return sub.execution_arn

        def one(line: str) -> float:
            t = time.perf_counter()
            out = wait_for(stack.client, [send(line)], poll=0.002)
            assert out.stored, "bench transaction was not stored"
            return time.perf_counter() - t

        # workflow, sequential: latency of one execution end to end
        batch = lines(2)
        t0 = time.perf_counter()
        wf_lat = [one(line) for line in batch]
        seq_s = time.perf_counter() - t0

        # workflow, concurrent submissions: throughput
        batch = lines(3)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            arns = list(pool.map(send, batch))
        outcomes = wait_for(stack.client, arns, timeout=3600)
        conc_s = time.perf_counter() - t0
        data: dict[str, Any] = {
            "transactions_per_phase": n,
            "baseline_handlers_direct": {"tx_per_s": round(n / base_s, 1), **summary(lat)},
            "workflow_sequential": {"executions_per_s": round(n / seq_s, 1), **summary(wf_lat)},
            "workflow_concurrent": {
                "executions_per_s": round(n / conc_s, 1),
                "concurrency": concurrency,
                "stored": len(outcomes.stored),
                "failed": len(outcomes.failed),
            },
            "ratio_workflow_vs_baseline_throughput": round((n / conc_s) / (n / base_s), 3),
            "ratio_p50_latency_workflow_vs_baseline": round(summary(wf_lat)["p50_ms"] / summary(lat)["p50_ms"], 1),
        }
        report.add("transaction workflow (issue 3)", data)
