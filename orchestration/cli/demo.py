"""``make run``: the whole pipeline on this machine, from generated transactions to a summary.

Starts the stack, seeds the catalogue, generates transactions (a few percent
invalid), sends them through the API into the transaction workflow, waits for
every execution, prints what happened, checks the exactly-once invariant, and
stops everything it started. With ``--json`` the story goes to stderr and the summary is one JSON document on
stdout.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from orchestration.cli import dlq, output
from orchestration.cli.connect import post_lines
from orchestration.runtime.auth import ANALYST
from orchestration.runtime.ingest import wait_for
from orchestration.runtime.stack import LocalStack

QUESTIONS = (
    ("Top games by revenue (USD)",
     "select game, round(sum(revenue_usd), 2) from analytics.fct_daily_revenue group by game order by 2 desc limit 3"),
    ("Top items by revenue (USD)",
     "select item_name || ' (' || game || ')', round(sum(revenue_usd), 2) from analytics.fct_item_performance"
     " group by 1 order by 2 desc limit 3"),
    ("Repeat-purchase rate",
     "select round(100.0 * avg(case when is_repeat_purchaser then 1 else 0 end), 1) || '% of '"
     " || count(*) || ' paying players bought more than once' from analytics.dim_players where purchase_count > 0"),
)  # fmt: skip


def analytics(stack: LocalStack, document: dict[str, Any] | None = None) -> bool:
    """The analytics refresh state machine (crawl -> Glue job -> dbt build -> checks), then three questions."""
    import json
    import uuid

    import psycopg

    from lambdas.build_marts.handler import DBT_DIR, dbt

    print("\nanalytics refresh (crawl -> flatten job -> dbt build -> data checks)...", flush=True)
    t0 = time.monotonic()
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn("analytics_refresh"), name=f"demo-{uuid.uuid4().hex[:12]}",
        input=json.dumps({"from_date": None, "to_date": None, "backfill": False}),
    )["executionArn"]  # fmt: skip
    while (d := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        time.sleep(1)
    print(f"  {d['status']} in {time.monotonic() - t0:.0f} s")
    found: dict[str, Any] = {"refresh": d["status"], "refresh_seconds": round(time.monotonic() - t0, 1)}
    if document is not None:
        document["analytics"] = found
    if d["status"] != "SUCCEEDED":
        print(f"  cause: {d.get('cause')}")
        return False
    # --static: one file with the manifest and catalog inside, which a browser opens from disk, offline
    docs = dbt("docs", "generate", "--static")
    home = stack.require_settings().home
    static_index = DBT_DIR / "target" / "static_index.html"
    print(f"  dbt docs:   {static_index if docs.returncode == 0 else 'not generated: ' + docs.stdout[-200:]}")
    print(f"  Data Docs:  {home / 'data-docs' / 'index.html'}  (both open offline: no CDN)")
    found.update(dbt_docs=str(static_index) if docs.returncode == 0 else None,
                 data_docs=str(home / "data-docs" / "index.html"), answers={})  # fmt: skip
    with psycopg.connect(stack.dsn("warehouse")) as conn:
        for title, sql in QUESTIONS:
            rows = conn.execute(sql.encode()).fetchall()
            found["answers"][title] = [list(row) for row in rows]
            print()
            columns = ("", "value") if rows and len(rows[0]) == 2 else ("value",)
            output.show(output.table(columns, rows, title=title, numeric=("value",)))
    return api_calls(stack, found)


def api_calls(stack: LocalStack, found: dict[str, Any] | None = None) -> bool:
    """Two named operations of the analytics API, as a dashboard calls them."""
    import json
    import urllib.request

    assert stack.api is not None
    ok = True
    for op in ("data_integrity_analysis", "revenue_analysis&period=month"):
        url = f"{stack.api.url}/analytics?operation={op}"
        request = urllib.request.Request(url, headers=stack.api_headers(ANALYST))  # noqa: S310 - the local API
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - the local API
            body = json.loads(resp.read())
            ok = ok and resp.status == 200
        print(f"\nGET /analytics?operation={op} -> {resp.status}")
        print("  " + json.dumps(body.get("result", body), default=str)[:700])
        if op == "data_integrity_analysis":
            # after the refresh every stored transaction is in raw and the marts: nothing unaccounted, and
            # the contract's rejects in the dead-letter queue are accounted for, not lost
            result = body.get("result", {})
            accounted, unaccounted = result.get("accounted", {}), result.get("unaccounted", {})
            print(f"  data integrity: {result.get('status')}  (stored {accounted.get('stored')}, dead-lettered"
                  f" {accounted.get('dead_lettered')}, unaccounted {unaccounted.get('total')})")  # fmt: skip
            ok = ok and result.get("status") == "ok"
            if found is not None:
                found["data_integrity"] = {"status": result.get("status"), "stored": accounted.get("stored"),
                                           "dead_lettered": accounted.get("dead_lettered"),
                                           "unaccounted": unaccounted.get("total")}  # fmt: skip
    return ok


def report_path(stack: LocalStack, document: dict[str, Any]) -> None:
    """Before the stack stops: `mtx report`'s page of this run (and `mtx status` shows it after), or why not."""
    from orchestration.cli import report

    try:
        path, _ = report.write(stack.home)
    except Exception as exc:  # noqa: BLE001 - a report that cannot be drawn must not hide the demo's outcome
        print(f"\nreport: not written ({type(exc).__name__}: {exc})")
        return
    document["report"] = str(path)
    print(f"\nreport (opens offline): {path}\n  `mtx status` shows this run's figures after the stop too")


def run_demo(home: Path, count: int = 2000, invalid_share: float = 0.04, seed: int = 7, as_json: bool = False) -> int:
    """The demo; ``as_json``: what it prints goes to stderr, its summary to stdout as one JSON document."""
    document: dict[str, Any] = {}
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        code = _run_demo(home, count, invalid_share, seed, document)
    if as_json:
        output.emit_json({**document, "ok": code == 0})
    return code


def _run_demo(home: Path, count: int, invalid_share: float, seed: int, document: dict[str, Any]) -> int:
    from orchestration.sample_data.generate import generate

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
        assert stack.api is not None
        results = post_lines(stack.api.url, (r.line for r in records), concurrency=8, api_key=stack.producer_key)
        arns = [r["body"]["executionArn"] for r in results if r["status"] == 202]
        outcomes = wait_for(stack.client, arns, timeout=1800)
        elapsed = time.monotonic() - t1
        letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
        rejected = sum(1 for r in results if r["status"] == 400)
        # by the generator's own labels: a valid transaction in the dead-letter queue is a fault of ours
        valid_ids = {r.transaction_id for r in records if r.kind == "valid"}
        valid_dead_lettered = sum(1 for d in letters if dlq.letter_transaction_id(d) in valid_ids)

        import psycopg

        with psycopg.connect(stack.dsn("compliance")) as conn:
            rows = conn.execute("select count(*) from compliance.transactions").fetchone()[0]  # type: ignore[index]
        objects = sum(
            page.get("KeyCount", 0)
            for page in stack.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=stack.require_settings().analytics_bucket, Prefix="transactions/")
        )
        ok = (
            len(outcomes.stored) + len(outcomes.duplicates) + len(letters) == len(results)
            and rows == len(outcomes.stored) == objects
            and not outcomes.running
            and valid_dead_lettered == 0
        )
        document.update(
            sent=len(results), accepted=len(arns), rejected=rejected, stored=len(outcomes.stored),
            compliance_rows=rows, analytics_objects=objects, duplicates=len(outcomes.duplicates),
            dead_lettered=len(letters), dead_lettered_by_reason=dict(dlq.summarise(letters)),
            valid_dead_lettered=valid_dead_lettered, still_running=len(outcomes.running),
            seconds=round(elapsed, 1), per_second=round(len(results) / elapsed, 1), invariant_ok=ok,
        )  # fmt: skip
        print()
        output.show(output.key_values([
            ("sent", len(results)), ("accepted (202)", len(arns)), ("rejected at the API (400)", rejected),
            ("stored", f"{len(outcomes.stored)}   (compliance rows: {rows}, analytics objects: {objects})"),
            ("duplicates ignored", len(outcomes.duplicates)),
            ("dead-lettered", f"{len(letters)}   by reason: {dict(dlq.summarise(letters))}"),
            ("valid dead-lettered", valid_dead_lettered), ("still running", len(outcomes.running)),
            ("time", f"{elapsed:.1f} s, {len(results) / elapsed:,.1f} transactions/s"),
            ("invariant", f"stored + duplicates + dead-lettered = sent: {'OK' if ok else 'BROKEN'}"),
        ], title="summary"))  # fmt: skip
        analytics_ok = analytics(stack, document)
        print("\nthis demo stops its stack now; to keep one up and look around: `mtx up`, then")
        print('  source .local/stack.env; psql "$MTX_WAREHOUSE_DSN"; mtx dlq list; mtx send FILE; mtx refresh')
        return 0 if ok and analytics_ok else 1
    finally:
        report_path(stack, document)
        stack.stop()
        print("\nstopped: PostgreSQL, moto server and API are down.")
