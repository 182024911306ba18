"""The PII canary: card and IP values that exist nowhere else are sent down every success and failure path,
then every sink the pipeline writes to is scanned for them.

Paths: the API (stored, IPv4 and IPv6), a validation error at the API and inside the workflow, an unknown
item, a price mismatch, the database down (retried, dead-lettered, redriven), the analytics S3 write refused
with an SDK error that quotes the IP (dead-lettered, redriven), a batch file with a valid, an invalid and an
oversize (quarantined) record, the analytics refresh (crawler, Glue job, dbt, Great Expectations) and the
analytics API, sync and async.

Allowed to hold the canaries (each checked to hold them, so the scan is known to see them):
  - the compliance database (``compliance.transactions``);
  - the dead-letter queue (customer-managed KMS key; redrive needs the record);
  - the raw bucket's landing zone: ``incoming/`` (the file as dropped), ``chunks/`` (its split, expiring)
    and ``rejected/`` (quarantine); same KMS key;
  - the raw bucket's ``archive/``: dead letters archived before the queue's retention drops them
    (``archive/dead-letters/``) and parked ones (``archive/parked/``); same KMS key, read by the redrive
    role alone;
  - the transaction workflow's execution history up to the compliance write and on the way to the
    dead-letter queue (in AWS the workflow is Express: no history is kept, and its log group has
    ``include_execution_data = false``).
Everything else must not: alert messages, every other execution history event and every other workflow,
captured logs, every other S3 object (Parquet read as rows), every DynamoDB item, every other SQS queue,
every warehouse table and mart, Great Expectations results and Data Docs HTML, the stack's files (dbt logs
and artefacts), and the analytics API's responses. The test prints the list of sinks it scanned.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import psycopg
import pytest
from psycopg import sql

from contracts import MAX_TRANSACTION_BYTES
from lambdas.archive_dead_letters.handler import archive_old_letters
from orchestration.cli import batch, dlq
from orchestration.runtime.stack import LocalStack
from tests.helpers import peek_all, run_execution, seed_tx, unique_id
from tests.integration.analytics_api.api_helpers import get, post_json, request, wait_for_job

pytestmark = pytest.mark.e2e

CARD = "0451"
IPV4 = "203.0.113.77"  # TEST-NET-3 (RFC 5737)
IPV6 = "2001:db8::77"  # documentation prefix (RFC 3849)
CANARIES = {
    # four digits alone occur in ids and timestamps: the card is matched as a token of its own
    "card_last4": re.compile(r"(?<![0-9A-Za-z._:-])0451(?![0-9A-Za-z])"),
    "client_ip v4": re.compile(r"(?<![0-9.])203\.0\.113\.77(?![0-9])"),
    "client_ip v6": re.compile(r"2001:0?db8:(?:0{1,4}:){0,5}:?0{0,2}77(?![0-9a-fA-F:])", re.IGNORECASE),
}
#: States of the transaction workflow whose events may carry the record: before the compliance write,
#: and the failure path that takes it to the dead-letter queue.
HISTORY_ALLOWED = {
    "ValidateTransaction", "RegisterTransaction", "CheckItemInShop", "EnrichTransaction", "StripPII",
    "StoreComplianceRecord", "UndoPartialWrite", "UndoStoredVersion", "NothingRecalled", "WasItRedriven",
    "AttachValidationError", "AttachValidationErrorOfRedrive", "AttachProcessingError", "AttachStoreError",
    "MarkFailed", "SendToDeadLetterQueue", "MarkStoredElsewhere", "DuplicateIgnored",
}  # fmt: skip


def found(text: str) -> list[str]:
    return [name for name, pattern in CANARIES.items() if pattern.search(text)]


def canary_tx(**overrides: Any) -> dict[str, Any]:
    tx = seed_tx(transactionId=unique_id("canary"), **{"client_ip": IPV4, **overrides})
    tx["payment_details"]["card_last4"] = CARD
    return tx


class Sinks:
    """Everything scanned, by sink name -> the canaries found there."""

    def __init__(self) -> None:
        self.scanned: dict[str, int] = {}
        self.leaks: dict[str, list[str]] = {}

    def scan(self, sink: str, where: str, text: str) -> list[str]:
        self.scanned[sink] = self.scanned.get(sink, 0) + 1
        hits = found(text)
        if hits:
            self.leaks.setdefault(f"{sink}: {where}", []).extend(hits)
        return hits


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))
            if record.exc_info:
                self.lines.append(logging.Formatter().formatException(record.exc_info))


@contextlib.contextmanager
def captured_logs() -> Iterator[_Capture]:
    """Every in-process logger (Powertools' included, which do not propagate), formatted as it prints."""
    capture = _Capture()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name, lg in list(logging.Logger.manager.loggerDict.items())
        if isinstance(lg, logging.Logger)
    ]  # fmt: skip
    for lg in loggers:  # at the levels the stack runs with: what it would print
        lg.addHandler(capture)
    try:
        yield capture
    finally:
        for lg in loggers:
            lg.removeHandler(capture)


def _post(stack: LocalStack, tx: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return post_json(stack, "/transactions", tx)


def _wait_stored(stack: LocalStack, arn: str) -> None:
    from orchestration.runtime.ingest import wait_for

    assert len(wait_for(stack.client, [arn]).stored) == 1


def _send(stack: LocalStack, tx: dict[str, Any]) -> dict[str, Any]:
    return run_execution(stack, "transaction", {"transaction": tx, "received_at": "2026-11-22T00:00:00Z"})


# --------------------------------------------------------------------------- the sinks


def _s3_text(s3: Any, bucket: str, key: str) -> str:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if key.endswith(".parquet") or body[:4] == b"PAR1":
        import pyarrow.parquet as pq

        return json.dumps(pq.read_table(io.BytesIO(body)).to_pylist(), default=str)
    if body[:2] == b"\x1f\x8b":
        import gzip

        body = gzip.decompress(body)
    return body.decode("utf-8", errors="replace")


LANDING = ("incoming/", "chunks/", "rejected/", "archive/")


def scan_s3(stack: LocalStack, sinks: Sinks) -> dict[str, list[str]]:
    """Every object of every bucket; the raw bucket's landing zone apart (returned: it must hold canaries)."""
    s = stack.require_settings()
    s3 = stack.client("s3")
    landing: dict[str, list[str]] = {}
    for bucket in [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(s.name_prefix)]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                text = _s3_text(s3, bucket, obj["Key"])
                if bucket == s.raw_bucket and obj["Key"].startswith(LANDING):
                    landing[obj["Key"]] = found(text)
                    continue
                sinks.scan(f"s3://{bucket}", obj["Key"], text)
                head = s3.head_object(Bucket=bucket, Key=obj["Key"])
                encryption = head.get("ServerSideEncryption")
                assert encryption == "aws:kms", f"s3://{bucket}/{obj['Key']}: {encryption}, not the KMS key"
    return landing


def scan_dynamodb(stack: LocalStack, sinks: Sinks) -> None:
    ddb = stack.client("dynamodb")
    prefix = stack.require_settings().name_prefix
    for table in ddb.list_tables()["TableNames"]:
        if table.startswith(prefix):
            for page in ddb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    sinks.scan(f"dynamodb {table}", json.dumps(item)[:80], json.dumps(item))


def scan_queues(stack: LocalStack, sinks: Sinks) -> list[str]:
    """Every queue but the dead-letter queue (returned: its bodies, which must hold canaries)."""
    sqs = stack.client("sqs")
    prefix = stack.require_settings().name_prefix
    dead_letters: list[str] = []
    for url in sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []):
        # a peek: the letters are handed back, so the next test's clean queue is clean (tests/helpers.py)
        bodies = [m["Body"] + json.dumps(m.get("MessageAttributes", {})) for m in peek_all(sqs, url)]
        if url == stack.dead_letter_queue_url:
            dead_letters = bodies
            continue
        name = url.rsplit("/", 1)[-1]
        sinks.scanned.setdefault(f"sqs {name}", 0)
        for body in bodies:
            sinks.scan(f"sqs {name}", body[:80], body)
    return dead_letters


def scan_histories(stack: LocalStack, sinks: Sinks) -> int:
    """Every execution of every workflow. In the transaction workflow, events of the states before the
    compliance write and on the dead-letter path may hold the record; nothing else anywhere may."""
    sfn = stack.client("stepfunctions")
    allowed_hits = 0
    for machine in sfn.list_state_machines()["stateMachines"]:
        is_transaction = machine["stateMachineArn"] == stack.state_machine_arn("transaction")
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"]):
            for execution in page["executions"]:
                events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
                state = "(execution)"
                for event in events:
                    for key in ("stateEnteredEventDetails", "stateExitedEventDetails"):
                        if key in event:
                            state = event[key]["name"]
                    details = json.dumps({k: v for k, v in event.items() if k.endswith("Details")}, default=str)
                    if event["type"] in ("ExecutionStarted",) and is_transaction:
                        allowed_hits += bool(found(details))  # the execution's input: the transaction as sent
                        continue
                    # a task is known by its function
                    pre_write_task = event["type"] == "TaskScheduled" and any(
                        fn in details
                        for fn in (
                            "store-compliance",
                            "strip-pii",
                            "validate-transaction",
                            "check-item",
                            "enrich-transaction",
                        )
                    )
                    # after the write its output is the PII-free analytics block only; a caught failure's output
                    # keeps the record for the dead-letter path
                    exit_of_write = (
                        event["type"] == "TaskStateExited" and state == "StoreComplianceRecord"
                        and '\\"error\\"' not in details
                    )  # fmt: skip
                    allowed = state in HISTORY_ALLOWED and not event["type"].startswith("Execution")
                    if is_transaction and (pre_write_task or allowed) and not exit_of_write:
                        allowed_hits += bool(found(details))
                        continue
                    sinks.scan(f"execution history {machine['name']}", f"{execution['name']} {event['type']} "
                               f"in {state}", details)  # fmt: skip
    return allowed_hits


def scan_warehouse(stack: LocalStack, sinks: Sinks) -> None:
    with psycopg.connect(stack.dsn("warehouse")) as conn:
        relations = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema') and table_schema not like 'pg_%'"
        ).fetchall()
        assert relations, "no warehouse tables to scan"
        for schema, table in relations:
            rows = conn.execute(
                sql.SQL("select coalesce(json_agg(t)::text, '') from {}.{} t").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            ).fetchone()
            sinks.scan("warehouse", f"{schema}.{table}", rows[0] if rows else "")


def scan_files(home: Path, sinks: Sinks) -> None:
    """The stack's own files: Great Expectations Data Docs and results, dbt logs and artefacts. The
    database server's folder is the compliance store itself (its data files hold the record by design)."""
    seen_docs = False
    for path in home.rglob("*"):
        if not path.is_file() or "pg" in path.relative_to(home).parts[:1]:
            continue
        if path.suffix in {".msgpack", ".pyc", ".db", ".sqlite"} or path.stat().st_size > 50_000_000:
            continue
        rel = path.relative_to(home).as_posix()
        seen_docs |= rel.startswith("data-docs/") and path.suffix == ".html"
        sink = "great expectations data docs" if rel.startswith("data-docs/") else "stack files (dbt, logs)"
        sinks.scan(sink, rel, path.read_text(errors="replace"))
    assert seen_docs, "no Data Docs page was built: the refresh did not run its checks"


def failed_step(stack: LocalStack, execution_arn: str) -> str:
    events = stack.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)
    failures = [json.dumps(e.get("taskFailedEventDetails")) for e in events["events"] if e["type"] == "TaskFailed"]
    assert stack.provisioned is not None
    sqs = stack.client("sqs")
    alerts = peek_all(sqs, stack.provisioned.alerts_inbox_url)
    checks = [m["Body"][:3000] for m in alerts if "expectation" in m["Body"]]
    with psycopg.connect(stack.dsn("warehouse")) as w, psycopg.connect(stack.dsn("compliance")) as c:
        fct = {r[0] for r in w.execute("select transaction_id from analytics.fct_transactions")}
        comp = {r[0] for r in c.execute("select transaction_id from compliance.transactions")}
    checks.append(f"in fct only: {sorted(fct - comp)}; in compliance only: {sorted(comp - fct)}")
    return "\n".join(failures[-3:] + checks) or "no failed task"


# --------------------------------------------------------------------------- the test


@pytest.mark.timeout(2400)
def test_canary_values_stay_in_the_compliance_store(clean_queues: LocalStack) -> None:
    stack = clean_queues
    s = stack.require_settings()
    sinks = Sinks()
    api_bodies: list[tuple[str, str]] = []
    with captured_logs() as logs:
        # 1. stored through the API, IPv4 and IPv6
        stored = [canary_tx(), canary_tx(client_ip=IPV6)]
        for tx in stored:
            status, body = _post(stack, tx)
            api_bodies.append(("POST /transactions 202", json.dumps(body)))
            assert status == 202, body
            _wait_stored(stack, body["executionArn"])

        # 2. refused: at the API (400), inside the workflow, unknown item, price mismatch
        bad_currency = canary_tx()
        bad_currency["item_purchased"]["price"]["currency"] = "XXY"
        status, body = _post(stack, bad_currency)
        api_bodies.append(("POST /transactions 400", json.dumps(body)))
        assert status == 400, body
        bad_ip = canary_tx(client_ip=f"{IPV4}/24")
        assert _send(stack, bad_ip)["error"] == "DataValidationError"
        time.sleep(0.01)
        archive_line = time.time()  # the two letters above are older than this instant, those below younger
        time.sleep(0.01)
        unknown = canary_tx()
        unknown["item_purchased"]["item_id"] = "mtx_no_such_item_canary"
        assert _send(stack, unknown)["error"] == "DataValidationError"
        mismatch = canary_tx()
        mismatch["item_purchased"]["price"]["amount"] = 11
        assert _send(stack, mismatch)["error"] == "DataValidationError"

        # 3. the database down: retried, then dead-lettered
        db_down = canary_tx()
        stack.pg.kill()
        try:
            assert _send(stack, db_down)["error"] == "TransactionNotStored"
        finally:
            stack.pg.restart()

        # 4. the analytics write refused by S3 with an error text that quotes the request (the IP)
        s3_refused = canary_tx()
        events = stack.client("s3").meta.events  # the handlers' own client

        def refuse(request: Any, **_: Any) -> None:
            if s3_refused["transactionId"].encode() in (request.url or "").encode():
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "AccessDenied", "Message": f"denied for {IPV4} card {CARD}"},
                     "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObject")  # fmt: skip

        events.register("before-send.s3.PutObject", refuse, unique_id="canary-refuse")
        try:
            assert _send(stack, s3_refused)["error"] == "TransactionNotStored"
        finally:
            events.unregister("before-send.s3.PutObject", unique_id="canary-refuse")

        # the dead-letter queue holds the failures, with the record (allowed: encrypted, redrive needs it)
        letters = [json.dumps(d.body) for d in dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)]
        assert sum(bool(found(b)) for b in letters) >= 6, "the failures did not reach the dead-letter queue"

        # 4b. the archive, run as if ten days had passed since archive_line: the two letters before it move
        # to archive/dead-letters/ of the raw bucket (allowed: same key, redrive role only); the rest stay
        age = s.dlq_archive_after_days * 86400
        archived = archive_old_letters(stack.client("sqs"), stack.client("s3"), stack.dead_letter_queue_url,
                                       s.raw_bucket, age, now=archive_line + age)  # fmt: skip
        assert archived.archived == 2, archived

        # 5. redrive: the two transient failures are stored now
        report = dlq.redrive(stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"))
        assert report.stored == 2, report

        # 6. a batch file: valid, invalid and oversize records, each with the canaries
        batch_ok, batch_bad = canary_tx(), canary_tx(client_ip="not-an-ip")
        batch_bad["payment_details"]["card_last4"] = CARD
        oversize = canary_tx(padding="x" * MAX_TRANSACTION_BYTES)
        body = "\n".join(json.dumps(t) for t in (batch_ok, batch_bad, oversize)).encode() + b"\n"
        name = f"canary-{uuid.uuid4().hex[:8]}.ndjson"
        key = batch.upload_bytes(stack.client, s, body, name)
        run = batch.wait_for_run(stack.client, s, key, timeout=600)
        assert run["status"] == "COMPLETED" and int(run["stored"]) == 1, run

        # 7. the analytics refresh: crawler, Glue job, dbt, Great Expectations
        refreshed = run_execution(stack, "analytics_refresh", {"from_date": None, "to_date": None, "backfill": False},
                                  timeout=1200)  # fmt: skip
        assert refreshed["status"] == "SUCCEEDED", failed_step(stack, refreshed["executionArn"])

        # 8. the analytics API, every operation, and an async job whose result goes to S3
        for query in ("operation=warehouse_info", "operation=player_analysis", "operation=revenue_analysis",
                      "operation=multi_dimensional_analytics", "operation=data_integrity_analysis"):  # fmt: skip
            status, answer = get(stack, f"/analytics?{query}")
            assert status == 200, answer
            api_bodies.append((f"GET /analytics?{query}", json.dumps(answer)))
        status, job = post_json(stack, "/analytics/jobs", {"operation": "player_analysis", "parameters": {}})
        assert status == 202, job
        done = wait_for_job(stack, job["job_id"])
        api_bodies.append(("GET /analytics/jobs/{jobId}", json.dumps(done)))
        status, health = request(stack, "GET", "/health")
        api_bodies.append(("GET /health", json.dumps(health)))

    # ------------------------------------------------------------------ where the canaries must be
    with psycopg.connect(stack.dsn("compliance")) as conn:
        held = conn.execute(
            "select count(*) filter (where card_last4 = %s), count(*) filter (where host(client_ip) in (%s, %s)) "
            "from compliance.transactions where transaction_id like 'canary-%%'",
            (CARD, IPV4, IPV6),
        ).fetchone()
    assert held == (5, 5), f"compliance store: {held}"  # 2 via the API, 2 redriven, 1 from the file

    # ------------------------------------------------------------------ where they must not be
    landing = scan_s3(stack, sinks)
    assert any(landing.values()), "the landing zone holds the file as dropped: the scan did not see it"
    quarantined = [k for k in landing if k.startswith(f"rejected/{run['run_id']}/")]  # the oversize record
    assert quarantined and all(landing[k] for k in quarantined), landing
    canary_ids = {tx["transactionId"] for tx in (bad_currency, bad_ip)}
    archive_keys = [k for k in landing if k.startswith("archive/dead-letters/")
                    and any(i in _s3_text(stack.client("s3"), s.raw_bucket, k) for i in canary_ids)]  # fmt: skip
    assert len(archive_keys) == 2 and all(landing[k] for k in archive_keys), "the archive lost its canaries"
    for k in archive_keys:
        assert stack.client("s3").head_object(Bucket=s.raw_bucket, Key=k)["ServerSideEncryption"] == "aws:kms"
    scan_dynamodb(stack, sinks)
    dead_letters = scan_queues(stack, sinks)
    assert any(found(b) for b in dead_letters), "the dead-letter queue lost its canaries"
    assert scan_histories(stack, sinks) > 0, "no transaction history held the canaries: the scan is blind"
    scan_warehouse(stack, sinks)
    scan_files(stack.home, sinks)
    for line in logs.lines:
        sinks.scan("captured logs", line[:80], line)
    sinks.scanned.setdefault("captured logs", 0)
    for where, text in api_bodies:
        sinks.scan("analytics and ingest API responses", where, text)

    print("PII canary: sinks scanned (items):")
    for sink, n in sorted(sinks.scanned.items()):
        print(f"  {sink}: {n}")
    assert not sinks.leaks, "canary values outside the compliance store:\n" + "\n".join(
        f"  {where}: {hits}" for where, hits in sinks.leaks.items()
    )
    expected_sinks = {
        f"s3://{s.analytics_bucket}", "warehouse", "great expectations data docs", "captured logs",
        "analytics and ingest API responses", f"execution history {s.state_machine_name('transaction')}",
        f"execution history {s.state_machine_name('batch_ingest')}", f"dynamodb {s.analytics_table}",
        f"sqs {s.alerts_topic_name}-inbox",
    }  # fmt: skip
    assert expected_sinks <= set(sinks.scanned), expected_sinks - set(sinks.scanned)
