"""The real-time aggregates equal the marts after a run through all three entrances with retries and a redrive.

Versions arrive through the API (the life of a payment, an exact re-send, an older status arriving late, an
analytics failure undone and redriven from the dead-letter queue), a file (a chunk run twice after it committed:
its answer lost) and the stream (a batch delivered twice). The analytics refresh then builds the marts and its
data checks reconcile the DynamoDB rollups with ``fct_hourly_revenue`` (the refresh fails on any difference);
the test also compares the two itself, per game x hour, and checks refunds made net revenue lower than gross.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

import botocore.exceptions
import psycopg
import pytest

from lambdas.common import realtime
from lambdas.ingest_stream import handler as ingest_stream
from lambdas.process_chunk import handler as process_chunk
from orchestration.cli import dlq
from orchestration.runtime.stack import LocalStack
from tests.e2e.test_analytics_refresh import refresh
from tests.integration.test_bulk_versions import _event, message, ndjson, transactions
from tests.integration.test_status_updates_api import send

pytestmark = pytest.mark.e2e


def _api(stack: LocalStack, tx: dict[str, Any], status: str) -> str:
    out = send(stack, json.loads(message(tx, status)))
    return str(json.loads(out["output"])["outcome"]) if out["status"] == "SUCCEEDED" else str(out["status"])


def _mart(stack: LocalStack) -> dict[tuple[str, str], tuple[int, Decimal, Decimal, Decimal]]:
    with psycopg.connect(stack.dsn("warehouse")) as conn:
        rows = conn.execute(
            "select game, to_char(revenue_hour, 'YYYY-MM-DD\"T\"HH24'), purchase_count, gross_usd, refunded_usd,"
            " net_usd from analytics.fct_hourly_revenue"
        ).fetchall()
    return {(g, h): (int(p), Decimal(gr), Decimal(rf), Decimal(n)) for g, h, p, gr, rf, n in rows if p or gr or rf}


def _statuses(stack: LocalStack, ids: list[str]) -> dict[str, str]:
    with psycopg.connect(stack.dsn("warehouse")) as conn:
        rows = conn.execute(
            "select transaction_id, transaction_status from analytics.fct_transactions where transaction_id = any(%s)",
            (ids,),
        ).fetchall()
    return dict(rows)


def _realtime(stack: LocalStack, games: set[str], hours: list[str]) -> dict[tuple[str, str], tuple[Any, ...]]:
    first, last = (dt.datetime.strptime(h, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC) for h in (min(hours), max(hours)))
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for game in games:
        for row in realtime.game_hours(game, first, last, stack.require_settings().realtime_aggregates_table):
            values = (int(row["purchases"]), row["gross_usd"], row["refunded_usd"], row["net_usd"])
            if any(values):
                out[(game, str(row["period"]))] = values
    return out


@pytest.mark.timeout(2400)
def test_realtime_aggregates_equal_the_marts_after_retries_and_a_redrive(clean_queues: LocalStack) -> None:
    stack = clean_queues
    s = stack.require_settings()
    a, b, c, d, e, f, g = transactions(7, seed=2590)

    # the API: a payment's life, an exact re-send, an older status arriving late
    assert [_api(stack, a, st) for st in ("pending", "completed", "refunded")] == ["STORED"] * 3
    assert _api(stack, a, "refunded") != "STORED" and _api(stack, a, "completed") != "STORED"
    # an analytics failure on b's second version: undone, dead-lettered, then redriven
    assert _api(stack, b, "completed") == "STORED"
    v2 = f"{b['transactionId']}.v2.json".encode()

    def refuse(request: Any, **_: Any) -> None:
        if v2 in request.url.encode():
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "denied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
                "PutObject",
            )

    events = stack.client("s3").meta.events
    events.register("before-send.s3.PutObject", refuse, unique_id="test-realtime-refuse")
    try:
        assert _api(stack, b, "chargeback") == "FAILED"
    finally:
        events.unregister("before-send.s3.PutObject", unique_id="test-realtime-refuse")
    report = dlq.redrive(stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"))
    assert (report.taken, report.stored, report.failed_again) == (1, 1, 0)

    # a file chunk run twice after it committed (its answer lost): c's life, d completed, a late update of a
    key = f"chunks/test-realtime/{time.time_ns()}.ndjson"
    body = ndjson([message(c, "pending"), message(c, "completed"), message(c, "refunded"), message(d, "completed"),
                   message(e, "completed")])  # fmt: skip
    stack.client("s3").put_object(Bucket=s.raw_bucket, Key=key, Body=body)
    run_id, received = f"realtime-{time.time_ns()}", dt.datetime.now(dt.UTC).isoformat()
    first = process_chunk.process(s.raw_bucket, key, run_id, 0, received)
    again = process_chunk.process(s.raw_bucket, key, run_id, 0, received)
    assert first["stored"] == again["stored"] == 5

    # the stream: a batch delivered twice (the mapping's retry), refunding e and d, f's life, g completed
    batch = _event([message(e, "refunded"), message(d, "chargeback"), message(f, "pending"), message(f, "completed"),
                    message(g, "completed")], first_sequence=7_000_000)  # fmt: skip
    for _ in range(2):
        assert ingest_stream.ingest(ingest_stream.StreamBatch.of(batch)).response() == {"batchItemFailures": []}

    refresh(stack)  # its data checks reconcile the rollups with the mart: a difference fails the refresh
    mart = _mart(stack)  # every game x hour the warehouse holds (other tests of the session stored some too)
    assert {tx["game"] for tx in (a, b, c, d, e, f, g)} <= {game for game, _ in mart}
    live = _realtime(stack, {game for game, _ in mart}, [h for _, h in mart])
    assert live == mart
    totals = [sum(v[i] for v in mart.values()) for i in range(4)]
    assert totals[2] > 0 and totals[3] == totals[1] - totals[2] < totals[1]  # refunds made net lower than gross
    ids = [tx["transactionId"] for tx in (a, b, c, d, e, f, g)]
    assert list(map(_statuses(stack, ids).get, ids)) == [
        "refunded", "chargeback", "refunded", "chargeback", "refunded", "completed", "completed"]  # fmt: skip
