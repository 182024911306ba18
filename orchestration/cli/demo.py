"""``make run``: the whole pipeline on this machine, from generated transactions to a summary.

Starts the stack, seeds the catalogue, generates transactions (a few percent
invalid, a few percent status updates of earlier ones: completions, failures,
refunds, chargebacks, and in the invalid share illegal moves, immutable-field
changes, out-of-order versions and re-sends), sends them through the API into the
transaction workflow, and a quarter of the transactions through the stream entrance
(POST /events -> Kinesis -> the local event source mapping,
orchestration/cli/demo_stream.py), phase by phase (a follow-up only once the message
it follows was settled: orchestration/cli/demo_lifecycle.py), waits for every
execution and every stream record, prints what happened per path, checks the
exactly-once invariant of each by outcome (stored as a version, harmless,
dead-lettered, as the generator labelled each message), refreshes the analytics,
prints gross vs net revenue, and stops everything it started. With ``--json`` the
story goes to stderr and the summary is one JSON document on stdout.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from orchestration.cli import demo_lifecycle, demo_stream, dlq, output
from orchestration.cli.connect import post_lines
from orchestration.runtime.auth import ANALYST
from orchestration.runtime.ingest import Outcomes, wait_for
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


def analytics(
    stack: LocalStack, document: dict[str, Any] | None = None, expected: demo_lifecycle.Expected | None = None
) -> bool:
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
        revenue(stack, found, expected)  # the real-time aggregates need no refresh
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
    revenue(stack, found, expected)
    return api_calls(stack, found)


def revenue(stack: LocalStack, found: dict[str, Any], expected: demo_lifecycle.Expected | None = None) -> None:
    """Gross, refunded and net revenue from the warehouse mart and from the real-time aggregates (each: or why
    not), beside what the generated data must give."""
    want = expected if expected is not None else demo_lifecycle.Expected()
    try:
        mart = demo_lifecycle.mart_revenue(stack.dsn("warehouse"))
    except Exception as exc:  # noqa: BLE001 - a figure that cannot be read must not hide the run's outcome
        mart = (None, f"not read ({type(exc).__name__})")
    assert stack.api is not None
    try:
        realtime = demo_lifecycle.realtime_revenue(
            demo_lifecycle.http_getter(stack.api.url, stack.api_headers(ANALYST)), want
        )
    except Exception as exc:  # noqa: BLE001 - as above
        realtime = (None, f"not read ({type(exc).__name__})")
    print()
    title = "gross vs net revenue (refunds and chargebacks leave net, stay in gross)"
    output.show(output.key_values(demo_lifecycle.revenue_rows(mart, realtime, want), title=title))
    found["revenue"] = {
        name: {"figures": {k: str(v) for k, v in figures.items()} if figures is not None else None, "source": source}
        for name, (figures, source) in (("mart", mart), ("realtime", realtime))
    } | {"generated": want.revenue_counts()}


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


def run_demo(
    home: Path,
    count: int = 2000,
    invalid_share: float = 0.04,
    seed: int = 7,
    as_json: bool = False,
    lifecycle_share: float = 0.05,
) -> int:
    """The demo; ``as_json``: what it prints goes to stderr, its summary to stdout as one JSON document."""
    document: dict[str, Any] = {}
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        code = _run_demo(home, count, invalid_share, seed, document, lifecycle_share)
    if as_json:
        output.emit_json({**document, "ok": code == 0})
    return code


def _run_demo(
    home: Path, count: int, invalid_share: float, seed: int, document: dict[str, Any], lifecycle_share: float = 0.05
) -> int:
    from orchestration.sample_data.generate import generate

    stack = LocalStack(home=Path(home) / "demo")
    print("starting the local stack (PostgreSQL, moto, API)...", flush=True)
    t0 = time.monotonic()
    stack.start()
    try:
        print(f"  up in {time.monotonic() - t0:.1f} s")
        records = list(generate(count, seed=seed, invalid_share=invalid_share, lifecycle_share=lifecycle_share))
        kinds = Counter(r.kind for r in records)
        print(f"generated {len(records)} messages: {dict(kinds)}")
        api_records, stream_records = demo_stream.split(records)
        phases = demo_lifecycle.phases(records)
        print(f"  {len(api_records)} one by one (POST /transactions), {len(stream_records)} through the stream"
              f" (POST /events), in {len(phases)} phases (a follow-up after what it follows)")  # fmt: skip
        t1 = time.monotonic()
        assert stack.api is not None and stack.stream_poller is not None
        stream_before = stack.stream_poller.records_done
        stream = demo_stream.StreamPath()
        results: list[dict[str, Any]] = []
        outcomes = Outcomes()
        on_stream = {id(r) for r in stream_records}
        for phase in phases:
            demo_stream.send(stack, [r for r in phase if id(r) in on_stream], path=stream)
            sent = post_lines(stack.api.url, (r.line for r in phase if id(r) not in on_stream), concurrency=8,
                              api_key=stack.producer_key)  # fmt: skip
            results += sent
            settled = wait_for(stack.client, [r["body"]["executionArn"] for r in sent if r["status"] == 202],
                               timeout=1800)  # fmt: skip
            for name in ("stored", "duplicates", "failed", "running"):
                getattr(outcomes, name).extend(getattr(settled, name))
            demo_stream.settle(stack, stream, stream_before)
        arns = [r["body"]["executionArn"] for r in results if r["status"] == 202]
        elapsed = time.monotonic() - t1
        every_letter = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
        demo_stream.account(stack, stream, every_letter)
        letters = [d for d in every_letter if d.failed_state != demo_stream.STREAM_STATE]  # the API path's
        rejected = sum(1 for r in results if r["status"] == 400)
        want = demo_lifecycle.expected(api_records)
        api_ids = sorted({r.transaction_id for r in api_records if r.transaction_id})
        versions = demo_lifecycle.versions_written(stack.dsn("compliance"), stream=False, ids=api_ids)
        got = demo_lifecycle.Observed(
            sent=len(results), stored=len(outcomes.stored), harmless=len(outcomes.duplicates),
            dead_lettered=len(letters), versions=versions,
            rules=Counter(r for d in letters if (r := demo_lifecycle.letter_rule(d.reason, d.body))),
            letters_per_id=Counter(i for d in letters if (i := dlq.letter_transaction_id(d)) is not None),
        )  # fmt: skip
        checks = demo_lifecycle.audit(want, got)
        # by the generator's own labels: a message dead-lettered that must be stored or harmless is a fault of ours
        valid_dead_lettered = sum(max(0, n - want.letters_per_id[i]) for i, n in got.letters_per_id.items())

        import psycopg

        with psycopg.connect(stack.dsn("compliance")) as conn:
            rows = conn.execute(  # the API path's rows (the stream's are owned by stream:<shard>:<sequence>)
                "select count(*) from compliance.transactions where execution_id not like 'stream:%'"
            ).fetchone()[0]  # type: ignore[index]
        objects = sum(  # the API path's analytics objects (one per version; the stream's are per batch)
            sum(1 for o in page.get("Contents", []) if "/batch-stream-" not in o["Key"])
            for page in stack.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=stack.require_settings().analytics_bucket, Prefix="transactions/")
        )
        stored_versions = sum(versions.values())
        ok = (
            len(outcomes.stored) + len(outcomes.duplicates) + len(letters) == len(results)
            and stored_versions == len(outcomes.stored) == objects
            and not outcomes.running
            and valid_dead_lettered == 0
            and all(equal for *_, equal in checks)
        )
        document.update(
            sent=len(results), accepted=len(arns), rejected=rejected, stored=len(outcomes.stored),
            versions=stored_versions, versions_by_number={str(v): n for v, n in sorted(versions.items())},
            compliance_rows=rows, analytics_objects=objects, duplicates=len(outcomes.duplicates),
            dead_lettered=len(letters), dead_lettered_by_reason=dict(dlq.summarise(letters)),
            lifecycle_refusals=dict(got.rules),
            expected={"stored": want.outcomes["stored"], "harmless": want.outcomes["harmless"],
                      "dead_lettered": want.outcomes["dead_lettered"],
                      "versions_by_number": {str(v): n for v, n in sorted(want.versions.items())}},
            audit=[{"check": what, "expected": w, "found": f, "ok": equal} for what, w, f, equal in checks],
            valid_dead_lettered=valid_dead_lettered, still_running=len(outcomes.running),
            seconds=round(elapsed, 1), per_second=round((len(results) + stream.sent) / elapsed, 1), invariant_ok=ok,
            stream=demo_stream.summary(stream),
        )  # fmt: skip
        print()
        output.show(output.key_values([
            ("sent", len(results)), ("accepted (202)", len(arns)), ("rejected at the API (400)", rejected),
            ("stored as a version", f"{len(outcomes.stored)}   (versions written: {stored_versions}, analytics"
                                    f" objects: {objects}, transactions: {rows})"),
            ("harmless (duplicate or stale)", len(outcomes.duplicates)),
            ("dead-lettered", f"{len(letters)}   by reason: {dict(dlq.summarise(letters))}"),
            ("valid dead-lettered", valid_dead_lettered), ("still running", len(outcomes.running)),
            ("time", f"{elapsed:.1f} s, {(len(results) + stream.sent) / elapsed:,.1f} transactions/s (both paths)"),
            ("invariant", f"stored + harmless + dead-lettered = sent: {'OK' if ok else 'BROKEN'}"),
        ], title="summary: the API path (POST /transactions, one workflow execution each)"))  # fmt: skip
        title = "the API path by outcome, as the generator labelled each message"
        output.show(output.key_values(demo_lifecycle.audit_rows(checks), title=title))
        output.show(output.key_values(demo_stream.rows(stream), title="the stream path (POST /events -> Kinesis ->"
                                      " event source mapping -> ingest_stream, in batches)"))  # fmt: skip
        ok = ok and stream.exactly_once and stream.sent == len(stream_records)
        analytics_ok = analytics(stack, document, demo_lifecycle.expected(records))
        print("\nthis demo stops its stack now; to keep one up and look around: `mtx up`, then")
        print('  source .local/stack.env; psql "$MTX_WAREHOUSE_DSN"; mtx dlq list; mtx send FILE; mtx refresh')
        return 0 if ok and analytics_ok else 1
    finally:
        report_path(stack, document)
        stack.stop()
        print("\nstopped: PostgreSQL, moto server and API are down.")
