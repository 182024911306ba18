"""POST /analytics/jobs through the real analytics_job state machine: inline, S3 link, failure with retries."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from lambdas.analytics_api import warehouse
from orchestration import asl_policy
from orchestration.runtime import sfn
from orchestration.runtime.stack import LocalStack
from tests.integration.analytics_api.api_helpers import assert_documented, get, post_json, wait_for_job
from tests.integration.analytics_api.conftest import LARGE_MARTS, LARGE_PLAYERS

pytestmark = pytest.mark.integration


def submit(stack: LocalStack, operation: str, parameters: dict[str, Any]) -> dict[str, Any]:
    status, body = post_json(stack, "/analytics/jobs", {"operation": operation, "parameters": parameters})
    assert status == 202, body
    assert_documented("POST", "/analytics/jobs", status, body)
    assert body["status"] == "PENDING"
    return body


def finished(stack: LocalStack, job_id: str) -> dict[str, Any]:
    body = wait_for_job(stack, job_id)
    assert_documented("GET", "/analytics/jobs/{jobId}", 200, body)
    return body


def alerts(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.provisioned is not None
    sqs = stack.client("sqs")
    out = []
    while msgs := sqs.receive_message(QueueUrl=stack.provisioned.alerts_inbox_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=stack.provisioned.alerts_inbox_url, ReceiptHandle=m["ReceiptHandle"])
    return out


def job_alert(stack: LocalStack, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The one alert about this job. The state machine writes the job's final status before it
    publishes the alert, so a finished job's alert may still be on its way: wait for it."""

    def this_jobs() -> list[dict[str, Any]]:
        return [a for a in alerts(stack) if a.get("job_id") == job_id]

    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        found = this_jobs()
        if not found:
            time.sleep(0.2)
    found += this_jobs()  # a duplicate would be right behind
    (note,) = found
    return note


def test_small_job_result_is_inline(api: LocalStack, clean_queues: LocalStack) -> None:
    accepted = submit(api, "player_analysis", {"min_purchases": 1})
    s = api.require_settings()
    record = api.client("dynamodb").get_item(
        TableName=s.analytics_jobs_table, Key={"job_id": {"S": accepted["job_id"]}}
    )["Item"]
    assert record["expires_at"]["N"].isdigit()
    job = finished(api, accepted["job_id"])
    assert job["status"] == "COMPLETED", job
    assert job["row_count"] == 3
    assert job["result_location"] == "inline"
    assert "download_url" not in job
    assert [(r["segment"], r["lifetime_value_usd"]) for r in job["result"]["rows"]] == [
        ("whale", "120.0000"), ("dolphin", "25.0000"), ("minnow", "5.0000"),
    ]  # fmt: skip
    # the synchronous API gives the same rows
    status, sync = get(api, "/analytics?operation=player_analysis")
    assert status == 200 and sync["result"] == job["result"]
    note = job_alert(api, accepted["job_id"])
    assert note == {
        "job_id": accepted["job_id"], "status": "COMPLETED", "operation": "player_analysis", "row_count": 3,
        "result_location": "inline", "execution_id": accepted["execution_arn"],
    }  # fmt: skip


def test_large_job_result_goes_to_s3_with_a_presigned_link(api: LocalStack, clean_queues: LocalStack) -> None:
    with warehouse.overridden(marts_schema=LARGE_MARTS):
        accepted = submit(api, "player_analysis", {"level": "player", "limit": 5000})
        job = finished(api, accepted["job_id"])
    assert job["status"] == "COMPLETED", job
    assert job["row_count"] == LARGE_PLAYERS
    assert job["result_location"] == "s3"
    assert "result" not in job
    with urllib.request.urlopen(job["download_url"], timeout=30) as resp:
        document = json.loads(resp.read())
    assert document["job_id"] == accepted["job_id"]
    assert len(document["rows"]) == LARGE_PLAYERS
    assert document["rows"][0] == {
        "player_id": "bulk-00006",
        "segment": "minnow",
        "purchase_count": 1,
        "lifetime_value_usd": "7.0000",
    }
    assert len({r["player_id"] for r in document["rows"]}) == LARGE_PLAYERS
    s = api.require_settings()
    head = api.client("s3").head_object(
        Bucket=s.query_results_bucket, Key=f"analytics-jobs/{accepted['job_id']}/result.json"
    )
    assert head["ServerSideEncryption"] == "aws:kms" and head.get("SSEKMSKeyId")  # the bucket's customer-managed key
    note = job_alert(api, accepted["job_id"])
    assert note["result_location"] == f"s3://{s.query_results_bucket}/analytics-jobs/{accepted['job_id']}/result.json"
    assert note["row_count"] == LARGE_PLAYERS


def test_job_retries_while_the_warehouse_is_down_then_fails_and_alerts(
    api: LocalStack, clean_queues: LocalStack, down_secret_id: str
) -> None:
    function = api.require_settings().function_name("run_analytics_job")
    before = sfn.REGISTRY.invocations.get(function, 0)
    with warehouse.overridden(warehouse_secret_id=down_secret_id):
        accepted = submit(api, "revenue_analysis", {"period": "month"})
        job = finished(api, accepted["job_id"])
    assert job["status"] == "FAILED"
    assert job["error"] == {
        "error": "DatabaseUnavailable",
        "message": "the warehouse was unavailable; the job was retried with backoff and then gave up",
    }
    # first try + every retry of the policy's database budget (orchestration/asl_policy.py)
    assert sfn.REGISTRY.invocations[function] - before == 1 + asl_policy.DATABASE.max_attempts
    assert "result" not in job and "download_url" not in job
    note = job_alert(api, accepted["job_id"])
    assert note["status"] == "FAILED" and note["error"] == "DatabaseUnavailable"
    history = api.client("stepfunctions").describe_execution(executionArn=accepted["execution_arn"])
    assert history["status"] == "FAILED"


def test_job_past_its_ttl_is_404(api: LocalStack) -> None:
    accepted = submit(api, "warehouse_info", {})
    assert finished(api, accepted["job_id"])["status"] == "COMPLETED"
    s = api.require_settings()
    api.client("dynamodb").update_item(
        TableName=s.analytics_jobs_table,
        Key={"job_id": {"S": accepted["job_id"]}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    status, body = get(api, f"/analytics/jobs/{accepted['job_id']}")
    assert (status, body["error"]) == (404, "JobNotFound")


def test_pending_record_is_visible_before_the_workflow_runs(api: LocalStack) -> None:
    accepted = submit(api, "player_analysis", {"level": "player", "limit": 2})
    status, body = get(api, f"/analytics/jobs/{accepted['job_id']}")
    assert status == 200
    assert body["status"] in ("PENDING", "RUNNING", "COMPLETED")
    assert body["parameters"]["limit"] == 2 and body["operation"] == "player_analysis"
    done = finished(api, accepted["job_id"])
    assert [r["player_id"] for r in done["result"]["rows"]] == ["p1", "p2"]
