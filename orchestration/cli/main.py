"""``mtx``: the local runtime's command line.

mtx up | down                   the local stack (PostgreSQL + moto + API)
mtx status [--json]             is it running, and what it did: counts, dead letters, last refresh, freshness
mtx report [--out PATH]         one static HTML page of that with plots (opens offline)
mtx generate                    sample transactions (NDJSON)
mtx send FILE|-                 POST each line to /transactions (as the producer of MTX_PRODUCER_KEY)
mtx stream FILE --rate N        replay NDJSON into the Kinesis stream (PutRecords, partition key transactionId)
mtx producers create|disable|enable|rotate|list   the producers' API credentials
mtx dlq list | redrive | archive the dead-letter queue
mtx sweep                       reconcile transactions and batch runs left PENDING (the scheduled sweeper, once)
mtx migrate                     database roles + migrations (the deploy-time step; `mtx up` runs it too)
mtx demo                        what `make run` does: everything, then stop
mtx lineage [--run ID] [--json] raw -> curated -> warehouse -> marts of a refresh (OpenLineage events)

Every command that reports takes --json (one JSON document on stdout); exit codes: orchestration/cli/exit_codes.py;
the full reference: docs/cli.md (python -m orchestration.cli.docs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestration.cli import lineage, output, report, soak, status, stream_replay
from orchestration.cli.commands import (
    cmd_check,
    cmd_dbt,
    cmd_demo,
    cmd_down,
    cmd_generate,
    cmd_ingest,
    cmd_migrate,
    cmd_refresh,
    cmd_runs,
    cmd_send,
    cmd_sweep,
    cmd_up,
)
from orchestration.cli.exit_codes import MEANING, CommandError, ExitCode
from orchestration.cli.operate import cmd_dlq, cmd_glue, cmd_producers
from orchestration.cost import command as cost
from orchestration.runtime.auth import PRODUCER_KEY_ENV
from orchestration.sample_data import generate
from orchestration.settings import REPO_ROOT

DEFAULT_HOME = REPO_ROOT / ".local"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtx", description="MTX pipeline: local runtime and tools",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status:\n" + "\n".join(f"  {int(code)}  {code.name.lower()}" for code in MEANING)
        + "\n(docs/cli.md says what each means)",
    )  # fmt: skip
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
    p = sub.add_parser("down", help="stop the local stack")
    output.add_json_flag(p)
    p.set_defaults(func=cmd_down)
    p = sub.add_parser(
        "status", help="is the local stack running, and where; its counts, dead letters, last refresh, marts freshness"
    )
    output.add_json_flag(p)
    p.set_defaults(func=status.cmd_status)
    p = sub.add_parser("report", help="one static HTML page with plots of the stack's run (opens offline)")
    p.add_argument("--out", type=Path, default=None, help="where (default <stack home>/report/index.html)")
    output.add_json_flag(p)
    p.set_defaults(func=report.cmd_report)
    p = sub.add_parser("send", help="POST NDJSON transactions to the running stack's API")
    p.add_argument("source", help="NDJSON file, or - for standard input")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    p.add_argument("--api-key", default="", help=f"the producer's key (default: ${PRODUCER_KEY_ENV} of stack.env)")
    output.add_json_flag(p)
    p.set_defaults(func=cmd_send)
    p = sub.add_parser("producers", help="producers' API credentials: create, disable, enable, rotate, list")
    p.add_argument("action", choices=["create", "disable", "enable", "rotate", "list"], help="what to do")
    p.add_argument("app_id", nargs="?", help="application id: lower-case letters, digits, hyphens")
    output.add_json_flag(p)
    p.set_defaults(func=cmd_producers)
    p = sub.add_parser("dlq", help="the dead-letter queue: list (and parked), redrive, archive old letters")
    p.add_argument("action", choices=["list", "redrive", "archive"], help="what to do")
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
    output.add_json_flag(p)
    p.set_defaults(func=cmd_dlq)
    p = sub.add_parser("glue", help="the Glue crawler and job, run locally against the running stack")
    p.add_argument("action", choices=["crawl", "run"], help="run the crawler, or a job")
    p.add_argument("job", nargs="?", default="flatten_transactions", help="run: the Glue job")
    p.add_argument("--from", dest="from_date", default=None, help="backfill from this date (YYYY-MM-DD)")
    p.add_argument("--to", dest="to_date", default=None, help="backfill up to this date (YYYY-MM-DD)")
    output.add_json_flag(p)
    p.set_defaults(func=cmd_glue)
    p = sub.add_parser(
        "migrate", help="deploy-time step: database roles and compliance migrations (as the migrator), raw table"
    )
    output.add_json_flag(p)
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("sweep", help="reconcile transactions and batch runs left PENDING past the age, once")
    p.add_argument(
        "--older-than-minutes", type=float, default=None,
        help="age past which a PENDING record is swept (default: MTX_SWEEP_PENDING_AFTER_MINUTES, 15)",
    )  # fmt: skip
    output.add_json_flag(p)
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("refresh", help="run the analytics refresh state machine: crawl, flatten, dbt build, checks")
    p.add_argument("--from", dest="from_date", default=None, help="backfill from this date (YYYY-MM-DD)")
    p.add_argument("--to", dest="to_date", default=None, help="backfill up to this date (YYYY-MM-DD)")
    output.add_json_flag(p)
    p.set_defaults(func=cmd_refresh)
    p = sub.add_parser("check", help="Great Expectations checkpoints; Data Docs; exit 1 and alert on failure")
    output.add_json_flag(p)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("dbt", help="dbt against the running stack's warehouse, e.g. `mtx dbt build`")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="dbt's own command line (exit 1 when dbt fails)")
    p.set_defaults(func=cmd_dbt)
    p = sub.add_parser("ingest", help="drop a file (NDJSON or JSON array, gzip ok) under incoming/ and follow its run")
    p.add_argument("file", help="the file to drop (its name becomes the object's name)")
    output.add_json_flag(p)
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("runs", help="batch ingest runs with their counts")
    output.add_json_flag(p)
    p.set_defaults(func=cmd_runs)
    p = sub.add_parser("stream", help="replay an NDJSON file into the Kinesis stream at N records/s (PutRecords)")
    stream_replay.add_arguments(p)
    output.add_json_flag(p)
    p.set_defaults(func=stream_replay.run)
    p = sub.add_parser("cost", help="estimated AWS cost of ingesting N transactions, per path")
    cost.add_arguments(p)
    p.set_defaults(func=cost.run)
    p = sub.add_parser("lineage", help="raw -> curated -> warehouse -> marts of a refresh, from its lineage events")
    lineage.add_arguments(p)
    p.set_defaults(func=lineage.run)
    p = sub.add_parser("generate", help="sample transactions as NDJSON")
    generate.add_arguments(p)
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("demo", help="start, run the pipeline end to end, summarise, stop (make run)")
    p.add_argument("--count", type=int, default=2000, help="transactions to generate and send")
    p.add_argument("--invalid-share", type=float, default=0.04, help="share of them that is invalid")
    p.add_argument("--seed", type=int, default=7, help="random seed of the generator")
    p.add_argument("--lifecycle-share", type=float, default=0.05,
                   help="share that updates an earlier one's status (completion, refund, chargeback...)")  # fmt: skip
    output.add_json_flag(p)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("soak", help="volume through every entrance under injected faults, then an audit (make soak)")
    soak.add_arguments(p)
    output.add_json_flag(p)
    p.set_defaults(func=soak.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status is one of :class:`ExitCode` (argparse's own usage errors exit 2)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CommandError as exc:
        return _ended(args, exc.code, type(exc).__name__, str(exc))
    except SystemExit as exc:  # a tool below the CLI (the cost model, sample data) refusing a value
        if isinstance(exc.code, str):
            return _ended(args, ExitCode.USAGE, "UsageError", exc.code)
        raise


def _ended(args: argparse.Namespace, code: ExitCode, kind: str, message: str) -> int:
    """A command that could not give its result: the message on stderr; with --json also as the document."""
    prefix = f"mtx {args.command}: "
    message = message.removeprefix(prefix)
    print(prefix + message, file=sys.stderr, flush=True)
    if output.wants_json(args):
        output.emit_json({"error": {"exit_code": int(code), "kind": kind, "message": message}})
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
