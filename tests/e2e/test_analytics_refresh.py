"""Transactions through the workflow -> the analytics refresh state machine
(crawl -> Glue flatten job -> dbt build -> Great Expectations) -> checked marts.

The warehouse is compared with what the pipeline stored: its raw table holds one
row per distinct analytics record in S3; a second refresh adds nothing; a new
day's transactions add exactly that day.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg
import pytest

from orchestration.runtime.ingest import submit, wait_for
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate
from tests.helpers import run_execution

pytestmark = pytest.mark.e2e


def send(stack: LocalStack, lines: list[str]) -> int:
    arns = []
    for line in lines:
        sub = submit(line, settings=stack.require_settings(), clients=stack.client,
                     state_machine_arn=stack.state_machine_arn("transaction"),
                     queue_url=stack.dead_letter_queue_url)  # fmt: skip
        assert sub.execution_arn, sub.body
        arns.append(sub.execution_arn)
    return len(wait_for(stack.client, arns).stored)


def analytics_ids(stack: LocalStack) -> set[str]:
    s3 = stack.client("s3")
    bucket = stack.require_settings().analytics_bucket
    ids: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="transactions/"):
        for obj in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().splitlines():
                if line.strip():
                    ids.add(json.loads(line)["transactionId"])
    return ids


def warehouse(stack: LocalStack, sql: str) -> Any:
    with psycopg.connect(stack.dsn("warehouse")) as conn:
        return conn.execute(sql).fetchone()[0]  # type: ignore[index]


def refresh(stack: LocalStack) -> dict[str, Any]:
    d = run_execution(stack, "analytics_refresh", {"from_date": None, "to_date": None, "backfill": False},
                      timeout=1200)  # fmt: skip
    assert d["status"] == "SUCCEEDED", d.get("cause")
    return d


@pytest.mark.timeout(2400)
def test_refresh_builds_checked_marts_idempotently(clean_queues: LocalStack) -> None:
    stack = clean_queues
    day1 = [r.line for r in generate(80, seed=606, invalid_share=0.0, duplicate_share=0.0,
                                       start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 3))]  # fmt: skip
    assert send(stack, day1) == 80

    refresh(stack)
    stored = analytics_ids(stack)
    raw_rows = warehouse(stack, "select count(*) from raw.mtx_transactions")
    assert raw_rows == len(stored)
    assert warehouse(stack, "select count(distinct transaction_id) from raw.mtx_transactions") == raw_rows
    assert warehouse(stack, "select count(*) from analytics.fct_transactions") == raw_rows
    cols = warehouse(stack, "select string_agg(column_name, ',') from information_schema.columns "
                            "where table_schema = 'raw' and table_name = 'mtx_transactions'")  # fmt: skip
    assert "client_ip" not in cols and "card_last4" not in cols
    # the Enrich stage's fields reached the marts on every row: the USD amount as converted, never re-derived
    assert (
        warehouse(
            stack,
            "select count(*) from analytics.fct_transactions where amount_usd is null"
            " or player_region is null or application_id is null or is_first_purchase is null",
        )
        == 0
    )
    assert (
        warehouse(
            stack,
            "select count(*) from analytics.fct_transactions as f join raw.mtx_transactions as r"
            " using (transaction_id) where f.amount_usd <> r.amount_usd",
        )
        == 0
    )
    assert warehouse(stack, "select count(distinct player_region) from analytics.fct_transactions") >= 2

    refresh(stack)  # nothing new: nothing added
    assert warehouse(stack, "select count(*) from raw.mtx_transactions") == raw_rows

    new_day = [r.line for r in generate(25, seed=707, invalid_share=0.0, duplicate_share=0.0,
                                          start=dt.date(2026, 4, 10), end=dt.date(2026, 4, 11))]  # fmt: skip
    assert send(stack, new_day) == 25
    refresh(stack)
    assert warehouse(stack, "select count(*) from raw.mtx_transactions") == raw_rows + 25
    assert warehouse(stack, "select count(*) from raw.mtx_transactions where event_date = '2026-04-10'") == 25
    assert warehouse(stack, "select count(*) from analytics.fct_transactions") == raw_rows + 25
