"""The operator's commands on a running stack: producers' credentials, the dead-letter queue, the Glue crawler and
job (``orchestration/cli/main.py`` maps the command line to them)."""

from __future__ import annotations

import argparse
import dataclasses
import re
import time

from orchestration.cli import output
from orchestration.cli.connect import RunningStack
from orchestration.cli.exit_codes import CommandError, ExitCode, UsageError, partial_if
from orchestration.settings import get_settings


def cmd_producers(args: argparse.Namespace) -> int:
    """Producers' credentials (API Gateway API keys in AWS): a key is printed once, stored as its hash."""
    from orchestration.runtime import auth
    from orchestration.runtime.auth import CredentialRegistry, credentials_table_name

    stack = RunningStack(args.home)
    registry = CredentialRegistry(stack.client("dynamodb"), credentials_table_name(stack.settings))
    as_json = output.wants_json(args)
    try:
        if args.action == "list":
            states = registry.principals(auth.PRODUCER)
            keys = registry.credentials(auth.PRODUCER)
            active = sum(v == auth.ACTIVE for v in states.values())
            if as_json:
                output.emit_json({
                    "producers": [
                        {"app_id": app, "state": state, "keys": [
                            {"fingerprint": c.fingerprint, "status": c.status, "created_at": c.created_at}
                            for c in keys if c.principal_id == app]}
                        for app, state in sorted(states.items())
                    ],
                    "count": len(states), "active": active,
                })  # fmt: skip
                return ExitCode.OK
            rows = [(c.principal_id, states[c.principal_id], c.fingerprint, c.status, c.created_at) for c in keys]
            output.show(output.table(("producer", "state", "key", "key status", "created"), rows))
            output.note(f"{len(states)} producers, {active} active")
            return ExitCode.OK
        if not args.app_id:
            raise UsageError(f"mtx producers {args.action} needs an application id")
        if args.action in ("create", "rotate"):
            key = registry.create(args.app_id) if args.action == "create" else registry.rotate(args.app_id)
            if as_json:
                output.emit_json({"app_id": args.app_id, "action": args.action, "key": key})
                return ExitCode.OK
            output.note(
                f"{args.action}d producer {args.app_id}; its key (shown once, send it as {auth.API_KEY_HEADER}):"
            )
            print(key)
            return ExitCode.OK
        changed = registry.disable(args.app_id) if args.action == "disable" else registry.enable(args.app_id)
        if as_json:
            output.emit_json({"app_id": args.app_id, "action": args.action, "keys_changed": changed})
        else:
            print(f"producer {args.app_id}: {args.action}d ({changed} key{'s' if changed != 1 else ''})")
        return ExitCode.OK
    except auth.InvalidAppId as exc:
        raise UsageError(str(exc)) from None
    except (auth.UnknownPrincipal, auth.PrincipalExists) as exc:
        raise CommandError(str(exc)) from None


def cmd_dlq(args: argparse.Namespace) -> int:
    from lambdas.archive_dead_letters.handler import archive_old_letters
    from orchestration.cli import dlq

    if args.from_archive and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.from_archive):
        raise UsageError("--from-archive takes a day, YYYY-MM-DD")
    stack = RunningStack(args.home)
    configured = get_settings()  # MTX_DLQ_* of the environment, as the Lambda reads them
    settings = dataclasses.replace(
        stack.settings,
        dlq_max_redrives=args.max_redrives or configured.dlq_max_redrives,
        dlq_archive_after_days=configured.dlq_archive_after_days if args.older_than_days is None
        else args.older_than_days,
    )  # fmt: skip
    as_json = output.wants_json(args)
    if args.action == "list":
        letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
        parked = dlq.parked_letters(stack.client, settings)
        if as_json:
            output.emit_json(dlq.listing_document(letters, parked=parked))
        else:
            output.show(*dlq.listing(letters, parked=parked))
        return ExitCode.OK
    if args.action == "archive":
        archived = archive_old_letters(
            stack.client("sqs"), stack.client("s3"), stack.dead_letter_queue_url, settings.raw_bucket,
            older_than_seconds=settings.dlq_archive_after_days * 86400,
        )  # fmt: skip
        document = dataclasses.asdict(archived)
        if as_json:
            output.emit_json(document)
        else:
            output.show(output.key_values(document.items(), title="dead letters archived"))
        return ExitCode.OK
    with output.waiting("redriving the dead-letter queue: waiting for the new executions' outcomes..."):
        if args.from_archive:
            report = dlq.replay_archived(
                stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"), args.from_archive,
                timeout=args.timeout, settings=settings,
            )  # fmt: skip
        else:
            report = dlq.redrive(
                stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"),
                timeout=args.timeout, settings=settings,
            )  # fmt: skip
    document = dataclasses.asdict(report)
    if as_json:
        output.emit_json(document)
    else:
        output.show(output.key_values(document.items(), title="redrive"))
    return partial_if(report.failed_again + report.kept + report.not_redrivable + report.parked)


def cmd_glue(args: argparse.Namespace) -> int:
    """The crawler or the job alone, through the Glue API of the running stack (what the refresh's
    aws-sdk:glue:startCrawler and glue:startJobRun.sync do); the stack runs them behind it."""
    from orchestration.runtime.manifest import glue_crawler_name, glue_job_name

    if args.action == "run" and args.job != "flatten_transactions":
        raise UsageError(f"unknown Glue job {args.job!r}; jobs: flatten_transactions")
    stack = RunningStack(args.home)
    glue = stack.client("glue")
    as_json = output.wants_json(args)
    if args.action == "crawl":
        name = glue_crawler_name(stack.settings)
        glue.start_crawler(Name=name)
        with output.waiting(f"crawler {name} running..."):
            while (crawler := glue.get_crawler(Name=name)["Crawler"])["State"] != "READY":
                time.sleep(1)
        last = crawler.get("LastCrawl", {})
        if as_json:
            output.emit_json({"crawler": name, "status": last.get("Status"), "error": last.get("ErrorMessage")})
        else:
            print(f"{name}: {last.get('Status')} {last.get('ErrorMessage', '')}".rstrip())
        return ExitCode.OK if last.get("Status") == "SUCCEEDED" else ExitCode.FAILED
    name = glue_job_name(stack.settings)
    options = {"--from_date": args.from_date, "--to_date": args.to_date,
               "--backfill": "true" if args.from_date or args.to_date else "false"}  # fmt: skip
    run_id = glue.start_job_run(JobName=name, Arguments={k: v for k, v in options.items() if v})["JobRunId"]
    ended = ("SUCCEEDED", "FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED")
    with output.waiting(f"Glue job {name} run {run_id}..."):
        while (run := glue.get_job_run(JobName=name, RunId=run_id)["JobRun"])["JobRunState"] not in ended:
            time.sleep(1)
    document = {"job": name, "run_id": run_id, "state": run["JobRunState"], "error": run.get("ErrorMessage")}
    if as_json:
        output.emit_json(document)
    else:
        output.show(output.key_values([(k, v) for k, v in document.items() if v is not None], title="Glue job run"))
    return ExitCode.OK if run["JobRunState"] == "SUCCEEDED" else ExitCode.FAILED
