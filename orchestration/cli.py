"""``mtx``: the local runtime's command line.

mtx up | down | status          the local stack (PostgreSQL + moto + API)
mtx generate                    sample transactions (NDJSON)
mtx send FILE|-                 POST each line to /transactions (as the producer of MTX_PRODUCER_KEY)
mtx stream FILE --rate N        replay NDJSON into the Kinesis stream (PutRecords, partition key transactionId)
mtx producers create|disable|enable|rotate|list   the producers' API credentials
mtx dlq list | redrive | archive the dead-letter queue
mtx sweep                       reconcile transactions and batch runs left PENDING (the scheduled sweeper, once)
mtx migrate                     database roles + migrations (the deploy-time step; `mtx up` runs it too)
mtx demo                        what `make run` does: everything, then stop
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from orchestration.auth import API_KEY_HEADER, PRODUCER_KEY_ENV
from orchestration.ingest import execution_name
from orchestration.settings import REPO_ROOT, Settings, get_settings, reset_settings_cache

DEFAULT_HOME = REPO_ROOT / ".local"


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Connecting to a running stack from another process
# ---------------------------------------------------------------------------
class RunningStack:
    """What another process needs of a stack started by ``mtx up``: settings, clients, URLs."""

    def __init__(self, home: Path) -> None:
        from orchestration.runtime.stack import pid_alive, read_state

        state = read_state(home)
        if state is None or not pid_alive(int(state["pid"])):
            raise SystemExit(f"no local stack is running (state in {home}); start one with `mtx up`")
        self.state = state
        env_file = Path(home) / "stack.env"
        for line in env_file.read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            os.environ.setdefault(key, json.loads(value))
        reset_settings_cache()
        self.settings = Settings(
            name_prefix=state["name_prefix"], aws_endpoint_url=state["aws_endpoint_url"], region=state["region"]
        )

    def client(self, service: str) -> Any:
        from lambdas.common.aws import client

        return client(service, self.settings)

    @property
    def api_url(self) -> str:
        return str(self.state["api_url"])

    def state_machine_arn(self, workflow: str) -> str:
        return str(self.state["state_machines"][workflow])

    @property
    def dead_letter_queue_url(self) -> str:
        return str(self.state["queues"][self.settings.dead_letter_queue_name])


# ---------------------------------------------------------------------------
def _progress(done: int, total: int, started: float, label: str) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.monotonic() - started, 1e-9)
    sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:,.0f}/s")
    sys.stderr.flush()
    if done == total:
        sys.stderr.write("\n")


def post_lines(
    api_url: str, lines: Iterable[str], concurrency: int = 8, show_progress: bool = True, api_key: str = ""
) -> list[dict[str, Any]]:
    """POST every line to /transactions with the producer's ``api_key`` (x-api-key); one result per line."""
    items = [ln for ln in lines if ln.strip()]
    results: list[dict[str, Any]] = [{} for _ in items]
    started = time.monotonic()
    done = 0
    lock = threading.Lock()

    def send(i: int) -> None:
        nonlocal done
        req = urllib.request.Request(  # noqa: S310 - the URL is the local API's own
            f"{api_url}/transactions", data=items[i].encode(), method="POST",
            headers={"Content-Type": "application/json", API_KEY_HEADER: api_key},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
                results[i] = {"status": resp.status, "body": json.loads(resp.read())}
        except urllib.error.HTTPError as exc:
            results[i] = {"status": exc.code, "body": json.loads(exc.read() or b"{}")}
        with lock:
            done += 1
            if show_progress and (done % 25 == 0 or done == len(items)):
                _progress(done, len(items), started, "sending")

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(send, range(len(items))))
    return results


def _read_lines(source: str) -> Iterator[str]:
    if source == "-":
        yield from sys.stdin
    else:
        with open(source, encoding="utf-8") as fh:
            yield from fh


# ---------------------------------------------------------------------------
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
  aws --endpoint-url "$MTX_AWS_ENDPOINT_URL" s3 ls
  aws --endpoint-url "$MTX_AWS_ENDPOINT_URL" sqs receive-message --queue-url {stack.dead_letter_queue_url}
  psql "$MTX_COMPLIANCE_DSN" -c 'select count(*) from compliance.transactions'
  psql "$MTX_WAREHOUSE_DSN" -c 'select * from analytics.fct_daily_revenue limit 5'""",
        flush=True,
    )


def cmd_down(args: argparse.Namespace) -> int:
    from orchestration.runtime.stack import stop_running

    print(stop_running(args.home))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from orchestration.runtime.stack import pid_alive, read_state

    state = read_state(args.home)
    if state is None or not pid_alive(int(state["pid"])):
        print("local stack: not running")
        return 1
    print(f"local stack: running (pid {state['pid']}, started in {state['startup_seconds']} s)")
    for key in ("aws_endpoint_url", "api_url", "postgres_port"):
        print(f"  {key}: {state[key]}")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    stack = RunningStack(args.home)  # sets MTX_PRODUCER_KEY from stack.env unless it is set already
    api_key = args.api_key or os.environ.get(PRODUCER_KEY_ENV, "")
    if not api_key:
        raise SystemExit(f"no producer credential: set {PRODUCER_KEY_ENV} or pass --api-key")
    results = post_lines(stack.api_url, _read_lines(args.source), concurrency=args.concurrency, api_key=api_key)
    counts = Counter(r["status"] for r in results)
    print(json.dumps({"sent": len(results), "accepted": counts.get(202, 0), "rejected": counts.get(400, 0),
                      "other": sum(v for k, v in counts.items() if k not in (202, 400))}))  # fmt: skip
    return 0


def cmd_producers(args: argparse.Namespace) -> int:
    """Producers' credentials (API Gateway API keys in AWS): a key is printed once, stored as its hash."""
    from orchestration import auth
    from orchestration.auth import CredentialRegistry, credentials_table_name

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
    from orchestration import dlq

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
    from orchestration import batch

    stack = RunningStack(args.home)
    name = Path(args.file).name
    known = batch.run_ids(stack.client, stack.settings, f"incoming/{name}")
    key = batch.upload(stack.client, stack.settings, Path(args.file))
    print(f"uploaded to s3://{stack.settings.raw_bucket}/{key}; waiting for its run...", flush=True)
    run = batch.wait_for_run(stack.client, stack.settings, key, known=known)
    print(json.dumps(run, indent=2, default=str))
    return 0 if run.get("status") == "COMPLETED" else 1


def cmd_runs(args: argparse.Namespace) -> int:
    from orchestration import batch

    stack = RunningStack(args.home)
    cols = ("run_id", "status", "records", "stored", "duplicates", "dead_lettered", "object_key")
    print("  ".join(f"{c:<14}" for c in cols))
    for run in batch.runs(stack.client, stack.settings):
        print("  ".join(f"{run.get(c, '-')!s:<14}" for c in cols))
    return 0


def cmd_glue(args: argparse.Namespace) -> int:
    RunningStack(args.home)  # settings and endpoints of the running stack
    if args.action == "crawl":
        from lambdas.run_crawler.handler import run_crawler

        print(run_crawler()["summary"])
        return 0
    if args.job != "flatten_transactions":
        raise SystemExit(f"unknown Glue job {args.job!r}; jobs: flatten_transactions")
    from lambdas.run_flatten_job.handler import run_flatten_job

    print(json.dumps(run_flatten_job(args.from_date, args.to_date, backfill=bool(args.from_date or args.to_date))))
    return 0


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
    from orchestration import generate

    return int(generate.run(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.demo import run_demo

    return run_demo(home=args.home, count=args.count, invalid_share=args.invalid_share, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtx", description="MTX pipeline: local runtime and tools")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="local state folder (default .local/)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start the local stack and keep it up until Ctrl-C")
    p.add_argument(
        "--terraform", action="store_true",
        help="provision it with `terraform apply` of infra/terraform/envs/local (the AWS modules; minutes) "
        "instead of the Python manifest (seconds)",
    )  # fmt: skip
    p.set_defaults(func=cmd_up)
    sub.add_parser(
        "api", help="serve the HTTP API (POST /transactions, /health, /analytics...): the local stack, as `up`"
    ).set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the local stack").set_defaults(func=cmd_down)
    sub.add_parser("status", help="is the local stack running, and where").set_defaults(func=cmd_status)
    p = sub.add_parser("send", help="POST NDJSON transactions to the running stack's API")
    p.add_argument("source", help="NDJSON file, or - for standard input")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--api-key", default="", help=f"the producer's key (default: ${PRODUCER_KEY_ENV} of stack.env)")
    p.set_defaults(func=cmd_send)
    p = sub.add_parser("producers", help="producers' API credentials: create, disable, enable, rotate, list")
    p.add_argument("action", choices=["create", "disable", "enable", "rotate", "list"])
    p.add_argument("app_id", nargs="?", help="application id: lower-case letters, digits, hyphens")
    p.set_defaults(func=cmd_producers)
    p = sub.add_parser("dlq", help="the dead-letter queue: list (and parked), redrive, archive old letters")
    p.add_argument("action", choices=["list", "redrive", "archive"])
    p.add_argument("--timeout", type=float, default=600.0, help="redrive: how long to wait for the outcomes")
    p.add_argument(
        "--max-redrives",
        type=int,
        default=0,
        help="redrive: park after this many failed redrives (default $MTX_DLQ_MAX_REDRIVES or 3)",
    )
    p.add_argument(
        "--from-archive",
        metavar="YYYY-MM-DD",
        default=None,
        help="redrive: replay the letters archived on that day (archive/dead-letters/) instead",
    )
    p.add_argument("--older-than-days", type=float, default=None,
                   help="archive: letters at least this old (default $MTX_DLQ_ARCHIVE_AFTER_DAYS or 10)")  # fmt: skip
    p.set_defaults(func=cmd_dlq)
    p = sub.add_parser("glue", help="the Glue crawler and job, run locally against the running stack")
    p.add_argument("action", choices=["crawl", "run"])
    p.add_argument("job", nargs="?", default="flatten_transactions")
    p.add_argument("--from", dest="from_date", default=None, help="backfill from this date (YYYY-MM-DD)")
    p.add_argument("--to", dest="to_date", default=None, help="backfill up to this date (YYYY-MM-DD)")
    p.set_defaults(func=cmd_glue)
    sub.add_parser(
        "migrate", help="deploy-time step: database roles and compliance migrations (as the migrator), raw table"
    ).set_defaults(func=cmd_migrate)
    p = sub.add_parser("sweep", help="reconcile transactions and batch runs left PENDING past the age, once")
    p.add_argument(
        "--older-than-minutes", type=float, default=None,
        help="age past which a PENDING record is swept (default: MTX_SWEEP_PENDING_AFTER_MINUTES, 15)",
    )  # fmt: skip
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("refresh", help="run the analytics refresh state machine: crawl, flatten, dbt build, checks")
    p.add_argument("--from", dest="from_date", default=None)
    p.add_argument("--to", dest="to_date", default=None)
    p.set_defaults(func=cmd_refresh)
    p = sub.add_parser("check", help="Great Expectations checkpoints; Data Docs; exit 1 and alert on failure")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("dbt", help="dbt against the running stack's warehouse, e.g. `mtx dbt build`")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_dbt)
    p = sub.add_parser("ingest", help="drop a file (NDJSON or JSON array, gzip ok) under incoming/ and follow its run")
    p.add_argument("file")
    p.set_defaults(func=cmd_ingest)
    sub.add_parser("runs", help="batch ingest runs with their counts").set_defaults(func=cmd_runs)
    p = sub.add_parser("stream", help="replay an NDJSON file into the Kinesis stream at N records/s (PutRecords)")
    from orchestration import stream_replay

    stream_replay.add_arguments(p)
    p.set_defaults(func=stream_replay.run)
    p = sub.add_parser("cost", help="estimated AWS cost of ingesting N transactions, per path")
    from orchestration import cost

    cost.add_arguments(p)
    p.set_defaults(func=cost.run)
    p = sub.add_parser("generate", help="sample transactions as NDJSON")
    try:
        from orchestration import generate

        generate.add_arguments(p)
    except ImportError:  # pragma: no cover
        pass
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("demo", help="start, run the pipeline end to end, summarise, stop (make run)")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--invalid-share", type=float, default=0.04)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("soak", help="volume through every entrance under injected faults, then an audit (make soak)")
    from orchestration import soak

    soak.add_arguments(p)
    p.set_defaults(func=soak.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
