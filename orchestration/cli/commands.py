"""What each ``mtx`` command does (``orchestration/cli/main.py`` maps the command line to them)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from orchestration.cli import output
from orchestration.cli.connect import RunningStack, post_lines, read_lines
from orchestration.cli.exit_codes import ExitCode, UsageError, partial_if
from orchestration.runtime.auth import PRODUCER_KEY_ENV
from orchestration.runtime.ingest import execution_name


def cmd_up(args: argparse.Namespace) -> int:
    from orchestration.runtime.stack import LocalStack

    stack = LocalStack(home=args.home, provisioner="terraform" if getattr(args, "terraform", False) else "python")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack.start()
    try:
        print_endpoints(stack)
        print("\nUp. Ctrl-C (or `mtx down`) stops everything.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        stack.stop()
        print("stopped.", flush=True)
    return 0


def print_endpoints(stack: Any) -> None:
    """Where everything is. Passwords stay in the 0600 env file, never on the console."""
    s = stack.settings
    print(
        f"""
local AWS (moto)   {stack.moto.endpoint_url}
API (API Gateway)  {stack.api.url}   POST /transactions (producer key), /health, /analytics (analyst key)
PostgreSQL         127.0.0.1:{stack.pg.port}   databases: compliance (RDS), warehouse (Redshift)
state machines     {", ".join(stack.provisioned.state_machine_arns)}
buckets            {s.raw_bucket}, {s.analytics_bucket}, {s.curated_bucket}

  source {stack.env_file}        # AWS_*, MTX_*, the dbt profile's variables and the API keys (mode 0600)
  curl -H "x-api-key: $MTX_ANALYST_KEY" {stack.api.url}/health
  aws s3 ls
  aws sqs receive-message --queue-url {stack.dead_letter_queue_url}
  psql "$MTX_COMPLIANCE_DSN" -c 'select count(*) from compliance.transactions'
  psql "$MTX_WAREHOUSE_DSN" -c 'select * from analytics.fct_daily_revenue limit 5'""",
        flush=True,
    )


def cmd_down(args: argparse.Namespace) -> int:
    from orchestration.runtime.stack import stop_running

    message = stop_running(args.home)
    if output.wants_json(args):
        output.emit_json({"stopped": message == "local stack stopped", "message": message})
    else:
        print(message)
    return ExitCode.OK


def cmd_send(args: argparse.Namespace) -> int:
    stack = RunningStack(args.home)  # sets MTX_PRODUCER_KEY from stack.env unless it is set already
    api_key = args.api_key or os.environ.get(PRODUCER_KEY_ENV, "")
    if not api_key:
        raise UsageError(f"no producer credential: set {PRODUCER_KEY_ENV} or pass --api-key")
    results = post_lines(stack.api_url, read_lines(args.source), concurrency=args.concurrency, api_key=api_key)
    counts = Counter(r["status"] for r in results)
    sent = {"sent": len(results), "accepted": counts.get(202, 0), "rejected": counts.get(400, 0),
            "other": sum(v for k, v in counts.items() if k not in (202, 400))}  # fmt: skip
    if output.wants_json(args):
        output.emit_json(sent)
    else:
        output.show(output.key_values([
            ("sent", sent["sent"]), ("accepted (202)", sent["accepted"]), ("rejected (400)", sent["rejected"]),
            ("other answers (send again)", sent["other"]),
        ]))  # fmt: skip
    return partial_if(sent["rejected"] + sent["other"])


def cmd_ingest(args: argparse.Namespace) -> int:
    from orchestration.cli import batch

    stack = RunningStack(args.home)
    name = Path(args.file).name
    known = batch.run_ids(stack.client, stack.settings, f"incoming/{name}")
    key = batch.upload(stack.client, stack.settings, Path(args.file))
    with output.waiting(f"uploaded to s3://{stack.settings.raw_bucket}/{key}; waiting for its run..."):
        run = batch.wait_for_run(stack.client, stack.settings, key, known=known)
    if output.wants_json(args):
        output.emit_json(run)
    else:
        output.show(output.key_values(sorted(run.items()), title=f"batch run of {key}"))
    if run.get("status") != "COMPLETED":
        return ExitCode.FAILED
    return partial_if(int(run.get("dead_lettered") or 0) + int(run.get("quarantined") or 0))


def cmd_runs(args: argparse.Namespace) -> int:
    from orchestration.cli import batch

    stack = RunningStack(args.home)
    runs = batch.runs(stack.client, stack.settings)
    if output.wants_json(args):
        output.emit_json({"runs": runs})
        return ExitCode.OK
    cols = ("run_id", "status", "records", "stored", "duplicates", "dead_lettered", "quarantined", "object_key")
    numeric = ("records", "stored", "duplicates", "dead_lettered", "quarantined")
    output.show(output.table(cols, ([run.get(c) for c in cols] for run in runs), numeric=numeric))
    output.note(f"{len(runs)} batch runs")
    return ExitCode.OK


def cmd_dbt(args: argparse.Namespace) -> int:
    RunningStack(args.home)
    from lambdas.build_marts.handler import dbt

    done = dbt(*args.dbt_args)
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    return ExitCode.OK if done.returncode == 0 else ExitCode.FAILED  # dbt's own 1 (failures) and 2 (errors)


def cmd_check(args: argparse.Namespace) -> int:
    RunningStack(args.home)
    from lambdas.run_data_checks.handler import DataChecksFailed, run_data_checks

    as_json = output.wants_json(args)
    try:
        result = run_data_checks()
    except DataChecksFailed as exc:
        if as_json:
            output.emit_json({"passed": False, "error": str(exc)})
        else:
            print(f"data checks FAILED (alert sent): {exc}")
        return ExitCode.FAILED
    if as_json:
        output.emit_json({"passed": True, **result})
    else:
        print(f"data checks passed: {result['suites']} suites; Data Docs: {result['docs_index']}")
    return ExitCode.OK


def sweep_lines(report: dict[str, Any]) -> list[str]:
    """What a sweep did: counts per outcome, then the ids of each outcome (ids only, never a value)."""
    counts = report["counts"]
    lines = ["sweep: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing PENDING past the age")]
    lines += [f"  {outcome}: {' '.join(ids)}" for outcome, ids in sorted(report["ids"].items())]
    return lines


def cmd_sweep(args: argparse.Namespace) -> int:
    """The PENDING sweeper (lambdas/sweep_pending, scheduled in AWS and by the local runtime), run once now."""
    RunningStack(args.home)
    from lambdas.sweep_pending.handler import sweep

    age = None if args.older_than_minutes is None else 60.0 * args.older_than_minutes
    report = sweep(older_than_seconds=age).as_dict()
    if output.wants_json(args):
        output.emit_json(report)
    else:
        print("\n".join(sweep_lines(report)))
    return partial_if(report["counts"].get("dead_lettered", 0))


def cmd_migrate(args: argparse.Namespace) -> int:
    """The deploy-time migration step (lambdas/migrate_databases, as Terraform invokes it in AWS) against the
    running stack: roles from their secrets, compliance migrations as the migrator, the raw table."""
    RunningStack(args.home)
    from lambdas.migrate_databases.handler import migrate_all

    result = migrate_all()
    if output.wants_json(args):
        output.emit_json(result)
        return ExitCode.OK
    applied = result["compliance_migrations_applied"]
    print(f"compliance migrations applied: {', '.join(applied) if applied else 'none (up to date)'}; warehouse ready")
    return ExitCode.OK


def cmd_refresh(args: argparse.Namespace) -> int:
    stack = RunningStack(args.home)
    payload = {"from_date": args.from_date, "to_date": args.to_date, "backfill": bool(args.from_date or args.to_date)}
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn("analytics_refresh"), name=execution_name("refresh"),
        input=json.dumps(payload),
    )["executionArn"]  # fmt: skip
    with output.waiting(f"analytics refresh started: {arn}"):
        while (d := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(1)
    done = {"execution_arn": arn, "status": d["status"], "output": _json_or_text(d.get("output")),
            "error": d.get("error"), "cause": d.get("cause")}  # fmt: skip
    if output.wants_json(args):
        output.emit_json(done)
    else:
        shown = [(k, v if isinstance(v, str) or v is None else json.dumps(v)) for k, v in done.items()]
        output.show(output.key_values([(k, v) for k, v in shown if v is not None], title="analytics refresh"))
    return ExitCode.OK if d["status"] == "SUCCEEDED" else ExitCode.FAILED


def _json_or_text(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_generate(args: argparse.Namespace) -> int:
    from orchestration.sample_data import generate

    return int(generate.run(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.cli.demo import run_demo

    return run_demo(home=args.home, count=args.count, invalid_share=args.invalid_share, seed=args.seed,
                    as_json=output.wants_json(args), lifecycle_share=args.lifecycle_share)  # fmt: skip
