"""``make run``: the whole pipeline on this machine, from generated transactions to a summary.

Starts the stack, seeds the catalogue, generates transactions (a few percent
invalid), sends them through the API into the transaction workflow, waits for
every execution, prints what happened, checks the exactly-once invariant, and
stops everything it started.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from orchestration import dlq
from orchestration.cli import post_lines, print_endpoints
from orchestration.ingest import wait_for
from orchestration.runtime.stack import LocalStack


def run_demo(home: Path, count: int = 2000, invalid_share: float = 0.04, seed: int = 7) -> int:
    from orchestration.generate import generate

    stack = LocalStack(home=Path(home) / "demo")
    print("starting the local stack (PostgreSQL, moto, API)...", flush=True)
    t0 = time.monotonic()
    stack.start()
    try:
        print(f"  up in {time.monotonic() - t0:.1f} s")
        records = list(generate(count, seed=seed, invalid_share=invalid_share))
        kinds = Counter(r.kind for r in records)
        print(f"generated {len(records)} transactions: {dict(kinds)}")
        t1 = time.monotonic()
        results = post_lines(stack.api.url, (r.line for r in records), concurrency=8)  # type: ignore[union-attr]
        arns = [r["body"]["executionArn"] for r in results if r["status"] == 202]
        outcomes = wait_for(stack.client, arns, timeout=1800)
        elapsed = time.monotonic() - t1
        letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
        rejected = sum(1 for r in results if r["status"] == 400)

        import psycopg

        with psycopg.connect(stack.dsn("compliance")) as conn:
            rows = conn.execute("select count(*) from compliance.transactions").fetchone()[0]  # type: ignore[index]
        objects = sum(
            page.get("KeyCount", 0)
            for page in stack.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=stack.require_settings().analytics_bucket, Prefix="transactions/")
        )
        print(f"""
summary
  sent                 {len(results)}
  accepted (202)       {len(arns)}   rejected at the API (400): {rejected}
  stored               {len(outcomes.stored)}   (compliance rows: {rows}, analytics objects: {objects})
  duplicates ignored   {len(outcomes.duplicates)}
  dead-lettered        {len(letters)}   by reason: {dict(dlq.summarise(letters))}
  still running        {len(outcomes.running)}
  time                 {elapsed:.1f} s, {len(results) / elapsed:,.1f} transactions/s""")
        ok = (
            len(outcomes.stored) + len(outcomes.duplicates) + len(letters) == len(results)
            and rows == len(outcomes.stored) == objects
            and not outcomes.running
        )
        print(f"  invariant            stored + duplicates + dead-lettered = sent: {'OK' if ok else 'BROKEN'}")
        print("\nlook at the results while it is up with `mtx up` (this demo stops its stack now):")
        print_endpoints(stack)
        return 0 if ok else 1
    finally:
        stack.stop()
        print("\nstopped: PostgreSQL, moto server and API are down.")
