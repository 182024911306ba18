"""What each ``mtx`` command does (``orchestration/cli/main.py`` maps the command line to them)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from orchestration.cli.connect import RunningStack, post_lines, read_lines
from orchestration.runtime.auth import PRODUCER_KEY_ENV
from orchestration.runtime.ingest import execution_name
from orchestration.settings import get_settings


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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

    print(stop_running(args.home))
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    stack = RunningStack(args.home)  # sets MTX_PRODUCER_KEY from stack.env unless it is set already
    api_key = args.api_key or os.environ.get(PRODUCER_KEY_ENV, "")
    if not api_key:
        raise SystemExit(f"no producer credential: set {PRODUCER_KEY_ENV} or pass --api-key")
    results = post_lines(stack.api_url, read_lines(args.source), concurrency=args.concurrency, api_key=api_key)
    counts = Counter(r["status"] for r in results)
    print(json.dumps({"sent": len(results), "accepted": counts.get(202, 0), "rejected": counts.get(400, 0),
                      "other": sum(v for k, v in counts.items() if k not in (202, 400))}))  # fmt: skip
    return 0


def cmd_producers(args: argparse.Namespace) -> int:
    """Producers' credentials (API Gateway API keys in AWS): a key is printed once, stored as its hash."""
    from orchestration.runtime import auth
    from orchestration.runtime.auth import CredentialRegistry, credentials_table_name

    stack = RunningStack(args.home)
    registry = CredentialRegistry(stack.client("dynamodb"), credentials_table_name(stack.settings))
    try:
        if args.action == "list":
            states = registry.principals(auth.PRODUCER)
            for c in registry.credentials(auth.PRODUCER):
                state = states[c.principal_id]
                print(f"{c.principal_id:<24} {state:<9} key {c.fingerprint}  {c.status:<9} {c.created_at}")
            print(f"{len(states)} producers, {sum(v == auth.ACTIVE for v in states.values())} active")
            return 0
        if not args.app_id:
            raise SystemExit(f"mtx producers {args.action} needs an application id")
        if args.action in ("create", "rotate"):
            key = registry.create(args.app_id) if args.action == "create" else registry.rotate(args.app_id)
            _err(f"{args.action}d producer {args.app_id}; its key (shown once, send it as {auth.API_KEY_HEADER}):")
            print(key)
            return 0
        changed = registry.disable(args.app_id) if args.action == "disable" else registry.enable(args.app_id)
        print(f"producer {args.app_id}: {args.action}d ({changed} key{'s' if changed != 1 else ''})")
        return 0
    except (auth.InvalidAppId, auth.UnknownPrincipal, auth.PrincipalExists) as exc:
        _err(str(exc))
        return 1


def cmd_dlq(args: argparse.Namespace) -> int:
    import dataclasses

    from lambdas.archive_dead_letters.handler import archive_old_letters
    from orchestration.cli import dlq

    stack = RunningStack(args.home)
    configured = get_settings()  # MTX_DLQ_* of the environment, as the Lambda reads them
    settings = dataclasses.replace(
        stack.settings,
        dlq_max_redrives=args.max_redrives or configured.dlq_max_redrives,
        dlq_archive_after_days=configured.dlq_archive_after_days if args.older_than_days is None
        else args.older_than_days,
    )  # fmt: skip
    if args.action == "list":
        letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
        print("\n".join(dlq.listing(letters, parked=dlq.parked_letters(stack.client, settings))))
        return 0
    if args.action == "archive":
        archived = archive_old_letters(
            stack.client("sqs"), stack.client("s3"), stack.dead_letter_queue_url, settings.raw_bucket,
            older_than_seconds=settings.dlq_archive_after_days * 86400,
        )  # fmt: skip
        print(json.dumps(dataclasses.asdict(archived)))
        return 0
    if args.from_archive:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.from_archive):
            raise SystemExit("--from-archive takes a day, YYYY-MM-DD")
        report = dlq.replay_archived(
            stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"), args.from_archive,
            timeout=args.timeout, settings=settings,
        )  # fmt: skip
    else:
        report = dlq.redrive(
            stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"),
            timeout=args.timeout, settings=settings,
        )  # fmt: skip
    print(json.dumps(dataclasses.asdict(report)))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from orchestration.cli import batch

    stack = RunningStack(args.home)
    name = Path(args.file).name
    known = batch.run_ids(stack.client, stack.settings, f"incoming/{name}")
    key = batch.upload(stack.client, stack.settings, Path(args.file))
    print(f"uploaded to s3://{stack.settings.raw_bucket}/{key}; waiting for its run...", flush=True)
    run = batch.wait_for_run(stack.client, stack.settings, key, known=known)
    print(json.dumps(run, indent=2, default=str))
    return 0 if run.get("status") == "COMPLETED" else 1


def cmd_runs(args: argparse.Namespace) -> int:
    from orchestration.cli import batch

    stack = RunningStack(args.home)
    cols = ("run_id", "status", "records", "stored", "duplicates", "dead_lettered", "object_key")
    print("  ".join(f"{c:<14}" for c in cols))
    for run in batch.runs(stack.client, stack.settings):
        print("  ".join(f"{run.get(c, '-')!s:<14}" for c in cols))
    return 0


def cmd_glue(args: argparse.Namespace) -> int:
    """The crawler or the job alone, through the Glue API of the running stack (what the refresh's
    aws-sdk:glue:startCrawler and glue:startJobRun.sync do); the stack runs them behind it."""
    from orchestration.runtime.manifest import glue_crawler_name, glue_job_name

    stack = RunningStack(args.home)
    glue = stack.client("glue")
    if args.action == "crawl":
        name = glue_crawler_name(stack.settings)
        glue.start_crawler(Name=name)
        while (crawler := glue.get_crawler(Name=name)["Crawler"])["State"] != "READY":
            time.sleep(1)
        last = crawler.get("LastCrawl", {})
        print(f"{name}: {last.get('Status')} {last.get('ErrorMessage', '')}".rstrip())
        return 0 if last.get("Status") == "SUCCEEDED" else 1
    if args.job != "flatten_transactions":
        raise SystemExit(f"unknown Glue job {args.job!r}; jobs: flatten_transactions")
    name = glue_job_name(stack.settings)
    options = {"--from_date": args.from_date, "--to_date": args.to_date,
               "--backfill": "true" if args.from_date or args.to_date else "false"}  # fmt: skip
    run_id = glue.start_job_run(JobName=name, Arguments={k: v for k, v in options.items() if v})["JobRunId"]
    ended = ("SUCCEEDED", "FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED")
    while (run := glue.get_job_run(JobName=name, RunId=run_id)["JobRun"])["JobRunState"] not in ended:
        time.sleep(1)
    print(json.dumps({"job": name, "run_id": run_id, "state": run["JobRunState"],
                      "error": run.get("ErrorMessage")}))  # fmt: skip
    return 0 if run["JobRunState"] == "SUCCEEDED" else 1


def cmd_dbt(args: argparse.Namespace) -> int:
    RunningStack(args.home)
    from lambdas.build_marts.handler import dbt

    done = dbt(*args.dbt_args)
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    return done.returncode


def cmd_check(args: argparse.Namespace) -> int:
    RunningStack(args.home)
    from lambdas.run_data_checks.handler import DataChecksFailed, run_data_checks

    try:
        result = run_data_checks()
    except DataChecksFailed as exc:
        print(f"data checks FAILED (alert sent): {exc}")
        return 1
    print(f"data checks passed: {result['suites']} suites; Data Docs: {result['docs_index']}")
    return 0


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
    print("\n".join(sweep_lines(sweep(older_than_seconds=age).as_dict())))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """The deploy-time migration step (lambdas/migrate_databases, as Terraform invokes it in AWS) against the
    running stack: roles from their secrets, compliance migrations as the migrator, the raw table."""
    RunningStack(args.home)
    from lambdas.migrate_databases.handler import migrate_all

    result = migrate_all()
    applied = result["compliance_migrations_applied"]
    print(f"compliance migrations applied: {', '.join(applied) if applied else 'none (up to date)'}; warehouse ready")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    stack = RunningStack(args.home)
    payload = {"from_date": args.from_date, "to_date": args.to_date, "backfill": bool(args.from_date or args.to_date)}
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn("analytics_refresh"), name=execution_name("refresh"),
        input=json.dumps(payload),
    )["executionArn"]  # fmt: skip
    print(f"analytics refresh started: {arn}", flush=True)
    while (d := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        time.sleep(1)
    print(d["status"], d.get("output") or d.get("cause") or "")
    return 0 if d["status"] == "SUCCEEDED" else 1


def cmd_generate(args: argparse.Namespace) -> int:
    from orchestration.sample_data import generate

    return int(generate.run(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.cli.demo import run_demo

    return run_demo(home=args.home, count=args.count, invalid_share=args.invalid_share, seed=args.seed)
