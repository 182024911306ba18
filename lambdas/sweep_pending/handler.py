"""The PENDING sweeper: reconciles transactions and batch runs left PENDING past a set age.

Scheduled (an EventBridge rule, infra/terraform/modules/triggers; locally the runtime's scheduled-rule
runner, and `mtx sweep`). A transaction's status item (the transaction workflow's RegisterTransaction)
or a batch run's record (RegisterRun) older than ``settings.sweep_pending_after_seconds`` and still
PENDING is settled exactly once:

- its execution is still RUNNING (DescribeExecution; an execution AWS cannot describe, an Express one,
  counts as running until the workflow's longest possible duration has passed): left alone;
- a transaction whose compliance row AND analytics copy both exist: marked COMPLETED;
- a transaction whose execution ended in the workflow's own dead-letter Fail (DataValidationError or
  TransactionNotStored, when MarkFailed was what failed): marked FAILED, nothing sent (the workflow sent it);
- otherwise: its execution's input (or, when DescribeExecution cannot give it, a pointer naming the id,
  the registration time and the execution; never a made-up record) is dead-lettered with the error
  ``Stuck``, through the ledger the last-resort net uses too (one letter per execution, whichever of
  the two gets there first), and the item is marked FAILED with error_name Stuck.

Every status change is conditional on the item being PENDING for the same execution, so a sweep that
runs twice, or beside the workflow finishing, changes nothing the second time. A transaction's item is keyed
by its message key ``<transactionId>/<status>`` (``contracts.lifecycle.message_key``: one item per status
update); an item written before versions has the bare id. The compliance store is read as the reader role,
through ``integrity.stored_messages()`` ((id, status) pairs in, those stored as a version out;
``integrity.stored_transaction_ids()`` for bare ids). The report and the logs carry ids and message keys,
counts and error classes, never a value of a record.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from contracts.config import Settings, get_settings
from contracts.lifecycle import ANCESTORS, message_key, split_message_key
from contracts.transaction import TransactionStatus
from lambdas.common import metrics
from lambdas.common.aws import client
from lambdas.common.db import connection
from lambdas.common.errors import stable_errors
from lambdas.common.execution_dead_letters import (
    SETTLED_FAILS,
    Execution,
    dead_letter_once,
    describe,
    execution_of,
    iso,
    now_utc,
    parse_time,
    stale_claims,
    workflow_of,
)
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("sweep-pending")
tracer = get_tracer("sweep-pending")
STUCK = "Stuck"
SWEEPER_STATE = "PendingSweeper"
#: The longest an Express execution can run (AWS: 5 minutes): past it, one AWS cannot describe has ended.
EXPRESS_MAX_SECONDS = 300


@dataclass
class SweepReport:
    """Outcome -> ids (transaction ids, run ids, execution ARNs for finished claims)."""

    outcomes: dict[str, list[str]] = field(default_factory=dict)

    def add(self, outcome: str, ident: str) -> None:
        self.outcomes.setdefault(outcome, []).append(ident)

    def counts(self) -> dict[str, int]:
        return dict(Counter({k: len(v) for k, v in self.outcomes.items()}))

    def as_dict(self) -> dict[str, Any]:
        return {"counts": self.counts(), "ids": {k: sorted(v) for k, v in self.outcomes.items()}}


def _pending(table: str, cutoff: dt.datetime) -> list[dict[str, Any]]:
    ddb = client("dynamodb")
    found = []
    for page in ddb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="#status = :pending",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":pending": {"S": "PENDING"}},
        ConsistentRead=True,
    ):
        for item in page.get("Items", []):
            started = parse_time(item.get("started_at", {}).get("S"))
            if started is not None and started < cutoff:
                found.append(item)
    return found


def _still_running(execution: Execution, started: dt.datetime, now: dt.datetime) -> bool:
    if execution.status is not None:
        return execution.status == "RUNNING"
    return (now - started).total_seconds() < EXPRESS_MAX_SECONDS


def stored_in_compliance(keys: list[str], settings: Settings) -> set[str]:
    """Those message keys whose status the compliance store holds as a version (a bare id: any version)."""
    pairs = [split_message_key(k) for k in keys]
    ids = [i for i, st in pairs if st is not None]
    statuses = [st for _, st in pairs if st is not None]
    bare = [i for i, st in pairs if st is None]
    found: set[str] = set()
    with connection(settings.compliance_reader_secret_id) as conn:
        if ids:
            found |= {r[0] for r in conn.execute("select * from integrity.stored_messages(%s, %s)", (ids, statuses))}
        if bare:
            found |= {r[0] for r in conn.execute("select * from integrity.stored_transaction_ids(%s)", (bare,))}
        conn.rollback()
    return found


def copy_covers(item_status: str | None, status: str | None) -> bool:
    """Whether an analytics item in ``item_status`` stands for a copy of the message in ``status``: the same
    status or a later one (versions are stored in lifecycle order); a bare id (no status): any item."""
    if status is None:
        return True
    try:
        held, wanted = TransactionStatus(item_status or ""), TransactionStatus(status)
    except ValueError:
        return False
    return held == wanted or wanted in ANCESTORS[held]


def stored_ids(keys: list[str], settings: Settings) -> set[str]:
    """Those message keys with a compliance version AND an analytics copy (the DynamoDB item StoreAnalytics
    writes after the S3 object holds that version or a later one)."""
    if not keys:
        return set()
    in_compliance = stored_in_compliance(keys, settings)
    ddb = client("dynamodb")
    both = set()
    for key in sorted(in_compliance):
        tx_id, status = split_message_key(key)
        found = ddb.get_item(
            TableName=settings.analytics_table, Key={"transaction_id": {"S": tx_id}},
            ProjectionExpression="payment_details.transaction_status",
        ).get("Item")  # fmt: skip
        if found is None:
            continue
        item_status = found.get("payment_details", {}).get("M", {}).get("transaction_status", {}).get("S")
        if copy_covers(item_status, status):
            both.add(key if status is None else message_key(tx_id, status))
    return both


def _mark(
    table: str, key: dict[str, Any], execution_arn: str, status: str, error: str | None, cause: str | None = None
) -> bool:
    """PENDING -> status, only if still PENDING for the same execution. False: someone settled it first."""
    ddb = client("dynamodb")
    now = {"S": iso(now_utc())}
    sets = ["#status = :status", "updated_at = :now", "swept_at = :now"]
    values: dict[str, Any] = {":status": {"S": status}, ":now": now, ":pending": {"S": "PENDING"},
                              ":execution": {"S": execution_arn}}  # fmt: skip
    if status == "COMPLETED":
        sets.append("completed_at = :now")
    if error:
        sets.append("error_name = :error")
        values[":error"] = {"S": error}
    if cause:
        sets.append("error_cause = :cause")
        values[":cause"] = {"S": cause}
    try:
        ddb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="#status = :pending AND execution_id = :execution",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def _stuck_reason(kind: str, execution: Execution, stored_part: str = "") -> str:
    ended = execution.status or "no longer running (not describable)"
    error = f" with {execution.error}" if execution.error else ""
    return f"the {kind} stayed PENDING past the sweeper's age; its execution {ended.lower()}{error}{stored_part}"


def sweep_transactions(settings: Settings, cutoff: dt.datetime, now: dt.datetime, report: SweepReport) -> None:
    table = settings.execution_status_table
    items = _pending(table, cutoff)
    candidates: list[tuple[dict[str, Any], Execution]] = []
    for item in items:
        tx_id = item["transaction_id"]["S"]  # the message key (a bare id for an item written before versions)
        arn = item.get("execution_id", {}).get("S", "")
        started = parse_time(item["started_at"]["S"]) or now
        execution = describe(arn) if arn else Execution(None, None, None)
        if _still_running(execution, started, now):
            report.add("running", tx_id)
            continue
        candidates.append((item, execution))
    stored = stored_ids([i["transaction_id"]["S"] for i, _ in candidates], settings)
    for item, execution in candidates:
        tx_id = item["transaction_id"]["S"]  # the message key: the report names the message
        arn = item.get("execution_id", {}).get("S", "")
        key = {"transaction_id": {"S": tx_id}}
        if tx_id in stored:
            report.add("completed" if _mark(table, key, arn, "COMPLETED", None) else "settled_elsewhere", tx_id)
            continue
        if execution.status == "FAILED" and execution.error in SETTLED_FAILS["transaction"]:
            # the workflow dead-lettered it and only its MarkFailed failed
            marked = _mark(table, key, arn, "FAILED", execution.error)
            report.add("failed_already_dead_lettered" if marked else "settled_elsewhere", tx_id)
            continue
        reason = _stuck_reason("transaction", execution)
        pointer = {"transaction_id": split_message_key(tx_id)[0], "message_key": tx_id,
                   "registered_at": item["started_at"]["S"]}  # fmt: skip
        sent = dead_letter_once(
            "transaction", arn or f"unknown-execution:{tx_id}", STUCK, reason, execution.input, SWEEPER_STATE,
            "sweeper", pointer=pointer, settings=settings,
        )  # fmt: skip
        marked = _mark(table, key, arn, "FAILED", STUCK)
        report.add("dead_lettered" if sent == "sent" else "failed_already_dead_lettered", tx_id)
        if sent == "sent":
            metrics.emit("DeadLettered", 1, Entrance="api", Reason=STUCK)
        if not marked:
            logger.warning("status changed while sweeping", extra={"transaction_id": tx_id})


def sweep_runs(settings: Settings, cutoff: dt.datetime, now: dt.datetime, report: SweepReport) -> None:
    table = settings.batch_runs_table
    for item in _pending(table, cutoff):
        run_id = item["run_id"]["S"]
        arn = item.get("execution_id", {}).get("S", "")
        started = parse_time(item["started_at"]["S"]) or now
        execution = describe(arn) if arn else Execution(None, None, None)
        if _still_running(execution, started, now):
            report.add("running", run_id)
            continue
        reason = _stuck_reason("batch run", execution)
        pointer = {
            "run_id": run_id,
            "registered_at": item["started_at"]["S"],
            "bucket": item.get("bucket", {}).get("S"),
            "object_key": item.get("object_key", {}).get("S"),
        }
        sent = dead_letter_once(
            "batch_ingest", arn or f"unknown-execution:{run_id}", STUCK, reason, execution.input, SWEEPER_STATE,
            "sweeper", pointer=pointer, settings=settings,
        )  # fmt: skip
        _mark(table, {"run_id": {"S": run_id}}, arn, "FAILED", STUCK, reason)
        report.add("dead_lettered" if sent == "sent" else "failed_already_dead_lettered", run_id)
        if sent == "sent":
            metrics.emit("DeadLettered", 1, Entrance="file", Reason=STUCK)


def finish_stale_claims(settings: Settings, report: SweepReport) -> None:
    """A claim whose holder died before marking it SENT: the letter may be missing; send it now."""
    for claim in stale_claims(settings):
        arn = claim["execution_arn"]
        workflow = claim.get("workflow") or workflow_of(execution_of(arn), settings) or "unknown"
        execution = describe(arn)
        error = claim.get("error_name") or STUCK
        reason = f"the {workflow} execution's dead letter was claimed but not confirmed; sent again by the sweeper"
        sent = dead_letter_once(
            workflow, arn, error, reason, execution.input, SWEEPER_STATE, "sweeper",
            pointer={"execution_status": execution.status}, settings=settings,
        )  # fmt: skip
        if sent == "sent":
            report.add("claim_finished", arn)


def sweep(older_than_seconds: float | None = None, settings: Settings | None = None) -> SweepReport:
    s = settings or get_settings()
    now = now_utc()
    age = s.sweep_pending_after_seconds if older_than_seconds is None else float(older_than_seconds)
    cutoff = now - dt.timedelta(seconds=age)
    report = SweepReport()
    sweep_transactions(s, cutoff, now, report)
    sweep_runs(s, cutoff, now, report)
    finish_stale_claims(s, report)
    logger.info("sweep done", extra={"counts": report.counts()})
    return report


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = sweep()
    counts = report.counts()
    settled = sum(counts.get(k, 0) for k in ("completed", "dead_lettered", "failed_already_dead_lettered"))
    metrics.emit("StuckSettled", settled)  # 0 too: the alarm sees the sweeper ran and found nothing
    return report.as_dict()
