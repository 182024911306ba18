"""Great Expectations checks against the real local stack (PostgreSQL, moto S3/SNS/SQS) and real dbt marts.

Isolation: every object this module writes lives in its own namespace and is
dropped at the end: warehouse schemas ``<tag>_raw`` / ``<tag>_broken`` (copies of
``raw.mtx_transactions`` without the primary key, as on Redshift), the dbt
target schema ``<tag>`` (+ ``<tag>_staging`` / ``_intermediate`` / ``_reference``),
a compliance schema ``<tag>`` and an S3 bucket ``<tag>-analytics``.
The marts are built by ``dbt build --target local`` over ``<tag>_raw``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from contracts.lifecycle import version_stamp
from contracts.pii import to_analytics_record
from contracts.transaction import Transaction
from contracts.warehouse import COLUMNS
from expectations.checkpoint import run_checks
from expectations.inputs import dead_letter_count, flatten_record
from expectations.report import CheckReport
from lambdas.common.enrich import FxTable, Purchase, static_fields
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.catalogue import BY_ID, to_dynamodb_item
from orchestration.sample_data.fx import fx_document
from tests.browser import offline_page
from tests.dbt_runner import Dbt
from tests.helpers import run_without_semaphores, seed_tx

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
LEAKED_IP = "203.0.113.77"
LEAKED_CARD = "4242"


def run_checks_on_stack(stack: LocalStack, docs_dir: str | Path, **overrides: Any) -> CheckReport:
    """``run_checks`` with every input taken from the started local stack (overridable): the test side of what
    lambdas/run_data_checks passes in AWS (deployed code knows no local stack)."""
    settings = stack.require_settings()
    kwargs: dict[str, Any] = {
        "warehouse_dsn": stack.dsn("warehouse"),
        "compliance_dsn": stack.dsn("compliance"),
        "s3": stack.client("s3"),
        "analytics_bucket": settings.analytics_bucket,
        "sns": stack.client("sns"),
        "alerts_topic_arn": settings.alerts_topic_arn,
        "docs_dir": docs_dir,
    }
    kwargs.update(overrides)
    if "dead_letter_count" not in kwargs:
        kwargs["dead_letter_count"] = dead_letter_count(stack.client("sqs"), stack.dead_letter_queue_url)
    return run_checks(**kwargs)


@dataclass
class Env:
    tag: str
    bucket: str
    raw_schema: str
    broken_schema: str
    marts_schema: str
    compliance_table: str
    good_ids: list[str]
    dbt_seconds: float

    def kwargs(self, **over: Any) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "analytics_bucket": self.bucket,
            "raw_schema": self.raw_schema,
            "marts_schema": self.marts_schema,
            "compliance_table": self.compliance_table,
            "dead_letter_count": 1,  # one transaction of the compliance copy is "dead-lettered"
        }
        kw.update(over)
        return kw


def make_tx(tag: str, i: int, **over: Any) -> Transaction:
    statuses = ["completed", "completed", "refunded", "pending", "failed"]
    wire = seed_tx()
    wire["transactionId"] = f"{tag}-{i:04d}"
    wire["user_id"] = f"{tag}-player-{i % 3}"
    wire["item_purchased"]["item_id"] = f"item_{i % 4}"
    wire["item_purchased"]["item_name"] = f"Item {i % 4}"
    wire["item_purchased"]["price"] = {"currency": "EUR" if i % 2 else "USD", "amount": 1 + i}
    wire["payment_details"]["transaction_status"] = statuses[i % len(statuses)]
    wire["event_timestamp"] = f"2025-02-{1 + i % 5:02d}T10:{i % 60:02d}:00Z"
    wire.update(over)
    return Transaction.model_validate(wire)


FX = FxTable.from_document(json.dumps(fx_document()))


def analytics_record(tx: Transaction) -> dict[str, Any]:
    """The analytics copy as the pipeline writes it: PII-free, with the Enrich stage's fields."""
    item = to_dynamodb_item(BY_ID[tx.item_purchased.item_id]) if tx.item_purchased.item_id in BY_ID else None
    enriched = static_fields(Purchase.of_wire(tx.to_json_dict()), item, FX, "check-tests")
    return (
        to_analytics_record(tx, dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)) | enriched | {"is_first_purchase": False}
    )


def warehouse_row(record: dict[str, Any], partition: str) -> dict[str, Any]:
    flat = flatten_record(record)
    event_at = dt.datetime.fromisoformat(flat["event_at"].replace("Z", "+00:00")).replace(tzinfo=None)
    flat["event_at"] = event_at
    flat["ingested_at"] = dt.datetime.fromisoformat(flat["ingested_at"].replace("Z", "+00:00")).replace(tzinfo=None)
    flat["event_date"] = event_at.date()
    flat["source_partition"] = dt.date.fromisoformat(partition)
    flat["loaded_at"] = dt.datetime(2025, 3, 1, 13, 0)
    flat["price_amount"] = Decimal(str(flat["price_amount"]))
    for name in ("amount_usd", "usd_per_unit", "list_price_usd"):
        flat[name] = None if flat.get(name) is None else Decimal(str(flat[name]))
    flat["fx_rate_date"] = flat.get("fx_rate_date") and dt.date.fromisoformat(flat["fx_rate_date"])
    # as the Glue job loads it: an object without version fields is version 1
    flat["version"] = flat.get("version") or 1
    flat["previous_status"] = flat.get("previous_status")
    stamp = flat.get("status_updated_at")
    flat["status_updated_at"] = stamp and dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).replace(tzinfo=None)
    return {c.name: flat[c.name] for c in COLUMNS}


def insert_raw(conn: psycopg.Connection[Any], schema: str, rows: list[dict[str, Any]]) -> None:
    names = [c.name for c in COLUMNS]
    sql = f"insert into {schema}.mtx_transactions ({', '.join(names)}) values ({', '.join(['%s'] * len(names))})"
    with conn.cursor() as cur:
        cur.executemany(sql, [[r[n] for n in names] for r in rows])


def put_objects(s3: Any, bucket: str, prefix: str, records: list[dict[str, Any]], run: str) -> None:
    """First record as a single ``<transactionId>.json``, the rest as one ``batch-<run>-0.ndjson``."""
    first, rest = records[0], records[1:]
    part = f"{prefix}dt=2025-03-01/"
    s3.put_object(Bucket=bucket, Key=f"{part}{first['transactionId']}.json", Body=json.dumps(first).encode())
    if rest:
        body = "".join(json.dumps(r) + "\n" for r in rest).encode()
        s3.put_object(Bucket=bucket, Key=f"{part}batch-{run}-0.ndjson", Body=body)


def run_dbt(stack: LocalStack, tag: str, raw_schema: str, work: Path) -> None:
    """``dbt build`` of the marts into this test's schemas, in this process."""
    result = Dbt(stack.dsn("warehouse"), work, schema=tag)("build", "--target", "local", "--vars",
                                                            json.dumps({"mtx_raw_schema": raw_schema}))  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"dbt build failed ({result.returncode}):\n{result.output[-6000:]}")


def drain(stack: LocalStack, url: str, wait: float = 10.0) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in msgs:
            out.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if out and not msgs:
            break
    return out


def check_alerts(stack: LocalStack, wait: float = 10.0) -> list[dict[str, Any]]:
    """The data checks' alerts in the inbox (raw delivery: the body is the alert). Other alerts (a workflow's
    NotifyFailure from an earlier test's late execution) are not this test's business."""
    found = []
    for m in drain(stack, stack.provisioned.alerts_inbox_url, wait=wait):  # type: ignore[union-attr]
        try:
            body = json.loads(m["Body"])
        except ValueError:
            continue
        if isinstance(body, dict) and "failed_expectations" in body:
            found.append(m)
    return found


@pytest.fixture(scope="module")
def env(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tag = f"ge_{uuid.uuid4().hex[:10]}"
    e = Env(
        tag=tag,
        bucket=f"{tag.replace('_', '-')}-analytics",
        raw_schema=f"{tag}_raw",
        broken_schema=f"{tag}_broken",
        marts_schema=tag,
        compliance_table=f"{tag}.transactions",
        good_ids=[],
        dbt_seconds=0.0,
    )
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=e.bucket)
    txs = [make_tx(tag, i) for i in range(12)]
    # the first (completed) transaction is refunded later: its version 2 is an analytics record of its own
    refunded = txs[0].to_json_dict()
    refunded["payment_details"]["transaction_status"] = "refunded"
    second = analytics_record(Transaction.model_validate(refunded)) | version_stamp(
        2, "completed", "2025-03-01T12:05:00.000000Z"
    )
    records = [analytics_record(t) for t in txs] + [second]
    e.good_ids = [t.transaction_id for t in txs]
    put_objects(s3, e.bucket, "transactions/", records, run="good")
    try:
        with psycopg.connect(stack.dsn("warehouse"), autocommit=True) as conn:
            for schema in (e.raw_schema, e.broken_schema):
                conn.execute(f"create schema {schema}")
                # LIKE copies columns, types and NOT NULL, not the primary key (as on Redshift)
                conn.execute(f"create table {schema}.mtx_transactions (like raw.mtx_transactions)")
            insert_raw(conn, e.raw_schema, [warehouse_row(r, "2025-03-01") for r in records])
        with psycopg.connect(stack.dsn("compliance"), autocommit=True) as conn:
            conn.execute(f"create schema {tag}")
            conn.execute(f"create table {e.compliance_table} (like compliance.transactions including all)")
            # every good transaction plus one that never reached analytics (it sits in the DLQ)
            extra = make_tx(tag, 999)
            for tx in [*txs, extra]:
                w = tx.to_json_dict()
                conn.execute(
                    f"insert into {e.compliance_table} (transaction_id, user_id, game, item_id, item_type,"
                    " price_amount, price_currency, payment_method, card_last4, transaction_status, gateway,"
                    " event_at, server_region, client_ip, raw) values"
                    " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        w["transactionId"], w["user_id"], w["game"], w["item_purchased"]["item_id"],
                        w["item_purchased"]["item_type"], Decimal(str(w["item_purchased"]["price"]["amount"])),
                        w["item_purchased"]["price"]["currency"], w["payment_details"]["payment_method"],
                        w["payment_details"].get("card_last4"), w["payment_details"]["transaction_status"],
                        w["payment_details"]["gateway"], w["event_timestamp"], w["server_region"],
                        w["client_ip"], json.dumps(w),
                    ),
                )  # fmt: skip
        t0 = time.monotonic()
        run_dbt(stack, tag, e.raw_schema, tmp_path_factory.mktemp("dbt"))
        e.dbt_seconds = time.monotonic() - t0
        yield e
    finally:
        with psycopg.connect(stack.dsn("warehouse"), autocommit=True) as conn:
            for schema in (
                e.raw_schema,
                e.broken_schema,
                tag,
                f"{tag}_staging",
                f"{tag}_intermediate",
                f"{tag}_reference",
            ):
                conn.execute(f"drop schema if exists {schema} cascade")
        with psycopg.connect(stack.dsn("compliance"), autocommit=True) as conn:
            conn.execute(f"drop schema if exists {tag} cascade")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=e.bucket):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=e.bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=e.bucket)


def failed(report: CheckReport, suite_prefix: str) -> set[tuple[str, str | None]]:
    return report.failed_expectation_types(suite_prefix)


def test_good_data_passes(env: Env, clean_queues: LocalStack, tmp_path: Path) -> None:
    stack = clean_queues
    t0 = time.monotonic()
    report = run_checks_on_stack(stack, tmp_path / "docs", **env.kwargs())
    took = time.monotonic() - t0
    assert report.success, json.dumps(report.summary(), indent=1, default=str)
    names = {s.suite for s in report.suites}
    assert "s3.analytics_objects" in names
    assert f"warehouse.{env.raw_schema}.mtx_transactions" in names
    assert "marts.reconciliation" in names
    assert {f"marts.{env.marts_schema}.fct_daily_revenue", f"marts.{env.marts_schema}.dim_players"} <= names
    assert all(s.evaluated > 0 for s in report.suites)
    assert report.docs_index is not None and report.docs_index.name == "index.html" and report.docs_index.exists()
    assert report.alert_message_id is None
    assert check_alerts(stack, wait=2) == []
    json.dumps(report.summary())  # machine-readable
    print(f"\ngood run: {took:.1f}s, dbt build {env.dbt_seconds:.1f}s, suites={len(report.suites)}")
    # the Data Docs a person opens render with no network: every suite's row in the index table
    with offline_page() as browser:
        browser.open(report.docs_index)
        rows = browser.js("Array.from(document.querySelectorAll('table tbody tr')).map(r => r.innerText)")
        assert rows and all(r.strip() for r in rows), rows  # the table is drawn (bootstrap-table, 10 rows a page)
        # every suite's row, over all of the table's pages (the table's own data)
        data = " ".join(
            browser.js(
                "Array.from(document.querySelectorAll('table[data-toggle=\"table\"], table.table'))"
                ".flatMap(t => { try { return jQuery(t).bootstrapTable('getData').map(r => JSON.stringify(r)) }"
                " catch (e) { return [] } })"
            )
        )
        assert all(name in data for name in names), (names, data[:3000])
        assert browser.remote == [] and browser.errors == []


def test_checks_pass_in_a_process_without_semaphores(env: Env, clean_queues: LocalStack, tmp_path: Path) -> None:
    # AWS Lambda has no /dev/shm: the same good-data checks must reach the same verdict there
    stack = clean_queues
    code = f"""
from expectations.checkpoint import run_checks
from lambdas.common.aws import client
from orchestration.settings import get_settings
s = get_settings()
report = run_checks(
    warehouse_dsn=os.environ["CHECK_WAREHOUSE_DSN"], compliance_dsn=os.environ["CHECK_COMPLIANCE_DSN"],
    s3=client("s3"), sns=client("sns"), alerts_topic_arn=s.alerts_topic_arn, docs_dir={str(tmp_path / "docs")!r},
    **{env.kwargs()!r},
)
print(json.dumps({{"success": report.success, "suites": len(report.suites)}}))
"""
    out = run_without_semaphores(
        code,
        {**os.environ, "CHECK_WAREHOUSE_DSN": stack.dsn("warehouse"), "CHECK_COMPLIANCE_DSN": stack.dsn("compliance")},
    )
    assert out == {"success": True, "suites": out["suites"]} and int(out["suites"]) > 3, out


def test_broken_batch_fails_names_it_and_alerts_once(env: Env, clean_queues: LocalStack, tmp_path: Path) -> None:
    stack = clean_queues
    s3 = stack.client("s3")
    prefix = "broken/transactions/"
    good = [analytics_record(make_tx(env.tag, i)) for i in range(3)]
    duplicate = dict(good[1])
    negative = analytics_record(make_tx(env.tag, 500))
    negative["item_purchased"] = {**negative["item_purchased"], "price": {"currency": "USD", "amount": -5}}
    smuggled_ip = {**analytics_record(make_tx(env.tag, 501)), "client_ip": LEAKED_IP}
    smuggled_card = analytics_record(make_tx(env.tag, 502))
    smuggled_card["payment_details"] = {**smuggled_card["payment_details"], "card_last4": LEAKED_CARD}
    # enriched wrong: a USD amount without its rate, an address where the country code goes
    half_enriched = {**analytics_record(make_tx(env.tag, 503)), "usd_per_unit": None, "country": LEAKED_IP}
    put_objects(s3, env.bucket, prefix, [smuggled_ip, *good, duplicate, negative, smuggled_card, half_enriched],
                run="broken")  # fmt: skip
    with psycopg.connect(stack.dsn("warehouse"), autocommit=True) as conn:
        rows = [warehouse_row(r, "2025-03-01") for r in [*good, duplicate, negative]]
        insert_raw(conn, env.broken_schema, rows)

    report = run_checks_on_stack(
        stack, tmp_path / "docs", **env.kwargs(analytics_prefix=prefix, raw_schema=env.broken_schema)
    )
    summary = json.dumps(report.summary(), indent=1, default=str)
    assert not report.success

    s3_failed = failed(report, "s3.analytics_objects")
    assert ("expect_compound_columns_to_be_unique", "transaction_id,version") in s3_failed, summary
    assert ("expect_column_values_to_be_between", "price_amount") in s3_failed, summary
    assert ("expect_column_values_to_not_match_regex_list", "client_ip") in s3_failed, summary
    assert ("expect_column_values_to_not_be_null", "usd_per_unit") in s3_failed, summary
    assert ("expect_column_values_to_match_regex", "country") in s3_failed, summary
    assert ("expect_column_values_to_not_match_regex_list", "country") in s3_failed, summary
    columns_check = [
        f
        for f in report.failures
        if f.suite == "s3.analytics_objects" and f.expectation_type == "expect_table_columns_to_match_set"
    ]
    assert columns_check and set(columns_check[0].observed_value["unexpected"]) == {"client_ip", "card_last4"}
    s3_dup = next(
        f for f in report.failures if f.suite == "s3.analytics_objects" and f.column == "transaction_id,version"
    )
    assert duplicate["transactionId"] in json.dumps(s3_dup.details["sample_unexpected"])  # ids are named, PII never

    wh_failed = failed(report, f"warehouse.{env.broken_schema}")
    assert ("expect_compound_columns_to_be_unique", "transaction_id,version") in wh_failed, summary
    assert ("expect_column_values_to_be_between", "price_amount") in wh_failed, summary
    dup = next(f for f in report.failures if f.suite.startswith("warehouse.") and f.column == "transaction_id,version")
    assert duplicate["transactionId"] in json.dumps(dup.details["sample_unexpected"])  # the warehouse names the key

    # the marts were built from the good raw table: they no longer reconcile with this one
    assert ("expect_column_values_to_be_between", "raw_minus_fct_rows") in failed(report, "marts.reconciliation")

    # exactly one alert, listing the failed expectations
    msgs = check_alerts(stack)
    assert len(msgs) == 1
    alert = json.loads(msgs[0]["Body"])  # raw message delivery
    print("\nalert lines:\n" + "\n".join(alert["lines"]))
    assert alert["success"] is False and alert["failed_count"] == len(report.failures)
    listed = {(f["suite"], f["expectation_type"], f["column"]) for f in alert["failed_expectations"]}
    assert ("s3.analytics_objects", "expect_column_values_to_not_match_regex_list", "client_ip") in listed
    assert ("s3.analytics_objects", "expect_compound_columns_to_be_unique", "transaction_id,version") in listed
    assert (
        f"warehouse.{env.broken_schema}.mtx_transactions",
        "expect_column_values_to_be_between",
        "price_amount",
    ) in listed
    assert all("observed_value" in f for f in alert["failed_expectations"])

    # Data Docs exist and carry no PII value (only the column names)
    assert report.docs_index is not None and report.docs_index.exists()
    docs_text = "".join(p.read_text(errors="ignore") for p in report.docs_index.parent.rglob("*") if p.is_file())
    assert "client_ip" in docs_text
    assert LEAKED_IP not in docs_text
    assert LEAKED_IP not in msgs[0]["Body"]
    assert f'"{LEAKED_CARD}"' not in docs_text and f'"{LEAKED_CARD}"' not in msgs[0]["Body"]


def test_broken_marts_fail_reconciliation(env: Env, clean_queues: LocalStack, tmp_path: Path) -> None:
    stack = clean_queues
    day = f"{env.marts_schema}.fct_daily_revenue"
    with psycopg.connect(stack.dsn("warehouse"), autocommit=True) as conn:
        (before,) = conn.execute(f"select count(*) from {day} where revenue_usd > 0").fetchone()  # type: ignore[misc]
        assert before > 0
        conn.execute(f"update {day} set revenue_usd = -revenue_usd - 1000")
        try:
            # dead_letter_count 0: the transaction only the compliance store holds is now unexplained
            report = run_checks_on_stack(stack, tmp_path / "docs", **env.kwargs(dead_letter_count=0))
        finally:
            conn.execute(f"update {day} set revenue_usd = -(revenue_usd + 1000)")
    summary = json.dumps(report.summary(), indent=1, default=str)
    assert not report.success
    assert ("expect_column_values_to_be_between", "revenue_usd") in failed(report, f"marts.{day}"), summary
    recon = failed(report, "marts.reconciliation")
    assert ("expect_column_values_to_be_between", "daily_revenue_minus_fct_usd") in recon, summary
    assert ("expect_column_values_to_be_between", "compliance_minus_fct_rows") in recon, summary
    assert failed(report, "s3.") == set() and failed(report, "warehouse.") == set()
    assert len(check_alerts(stack)) == 1
