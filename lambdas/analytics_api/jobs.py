"""Asynchronous jobs: the record in DynamoDB (PENDING first), the analytics_job state machine started."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contracts.config import Settings
from contracts.timestamps import now_iso
from lambdas.analytics_api.errors import JOB_ERROR_MESSAGES, JobNotFound, ServiceUnavailable
from lambdas.common.aws import client
from lambdas.common.logging import get_logger

logger = get_logger("analytics-jobs")

JOB_TTL_SECONDS = 7 * 24 * 3600
DOWNLOAD_LINK_SECONDS = 3600
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def submit(settings: Settings, operation: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Write the PENDING record, start the workflow, answer with the job id."""
    job_id = uuid.uuid4().hex
    now = now_iso()
    ddb = client("dynamodb")
    try:
        ddb.put_item(
            TableName=settings.analytics_jobs_table,
            Item={
                "job_id": {"S": job_id},
                "status": {"S": "PENDING"},
                "operation": {"S": operation},
                "parameters": {"S": json.dumps(parameters, sort_keys=True)},
                "created_at": {"S": now},
                "updated_at": {"S": now},
                "expires_at": {"N": str(int(time.time()) + JOB_TTL_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(job_id)",
        )
        execution_arn = client("stepfunctions").start_execution(
            stateMachineArn=settings.state_machine_start_arn("analytics_job"),
            name=job_id,
            input=json.dumps({"job_id": job_id, "operation": operation, "parameters": parameters}),
        )["executionArn"]
    except (BotoCoreError, ClientError) as exc:
        logger.error("could not start the analytics job", extra={"error": type(exc).__name__})
        raise ServiceUnavailable("could not start the analytics job; retry later") from None
    return {
        "job_id": job_id,
        "status": "PENDING",
        "operation": operation,
        "parameters": parameters,
        "created_at": now,
        "execution_arn": execution_arn,
        "links": {"self": f"/analytics/jobs/{job_id}"},
    }


def _s(item: dict[str, Any], name: str) -> str | None:
    return item[name]["S"] if name in item else None


def describe(settings: Settings, job_id: str, now: float | None = None) -> dict[str, Any]:
    """Status and result (inline) or a fresh presigned download link; JobNotFound for unknown/expired ids."""
    if not _JOB_ID.match(job_id):
        raise JobNotFound("no analytics job of that id")
    try:
        item = (
            client("dynamodb")
            .get_item(TableName=settings.analytics_jobs_table, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
            .get("Item")
        )
    except (BotoCoreError, ClientError) as exc:
        logger.error("job table unavailable", extra={"error": type(exc).__name__})
        raise ServiceUnavailable("the job store is unavailable; retry later") from None
    now = time.time() if now is None else now
    # a record without operation was not written by the API (e.g. an execution started by hand): not a job
    if not item or "operation" not in item or int(item.get("expires_at", {}).get("N", "0") or 0) <= now:
        raise JobNotFound("no analytics job of that id")
    body: dict[str, Any] = {
        "job_id": job_id,
        "status": _s(item, "status") or "PENDING",
        "operation": item["operation"]["S"],
        "parameters": json.loads(_s(item, "parameters") or "{}"),
        "created_at": _s(item, "created_at") or "",
        "updated_at": _s(item, "updated_at") or _s(item, "created_at") or "",
    }
    for name in ("started_at", "completed_at"):
        if name in item:
            body[name] = item[name]["S"]
    if "row_count" in item:
        body["row_count"] = int(item["row_count"]["N"])
    if body["status"] == "COMPLETED":
        if "result_key" in item:
            body["result_location"] = "s3"
            body["download_url"] = client("s3").generate_presigned_url(
                "get_object",
                Params={"Bucket": item["result_bucket"]["S"], "Key": item["result_key"]["S"]},
                ExpiresIn=DOWNLOAD_LINK_SECONDS,
            )
            body["download_expires_in"] = DOWNLOAD_LINK_SECONDS
        elif "result" in item:
            body["result_location"] = "inline"
            body["result"] = json.loads(item["result"]["S"])
    if body["status"] == "FAILED":
        name = _s(item, "error_name") or "JobFailed"
        body["error"] = {"error": name, "message": JOB_ERROR_MESSAGES.get(name, "the analytics job failed")}
    return body
