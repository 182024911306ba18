"""RunAnalyticsQuery: run one named operation for a job and store its result.

Up to ``INLINE_MAX_ROWS`` rows (and ``INLINE_MAX_BYTES``) go inline into the job
record; bigger results go to the query-results bucket (the API hands out a
presigned link). The state machine marks the job COMPLETED/FAILED and notifies;
DatabaseUnavailable is raised as is so its Retry (with backoff) matches.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from contracts.config import Settings, get_settings
from lambdas.analytics_api import models, operations
from lambdas.common.aws import client
from lambdas.common.errors import StorageUnavailable, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("analytics-job")
tracer = get_tracer("analytics-job")

INLINE_MAX_ROWS = 1000
INLINE_MAX_BYTES = 300_000  # DynamoDB items are limited to 400 KB


class JobInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    job_id: str
    operation: str
    parameters: dict[str, Any] = {}


def result_key(job_id: str) -> str:
    return f"analytics-jobs/{job_id}/result.json"


def run_job(job: JobInput, settings: Settings) -> dict[str, Any]:
    name, params = models.parse_operation(job.operation, job.parameters)
    result = operations.run(name, params)
    rows = len(result.get("rows", []))
    document = {"job_id": job.job_id, "operation": name, "parameters": models.normalised(params), **result}
    body = json.dumps(document, separators=(",", ":"))
    ddb = client("dynamodb")
    try:
        if rows > INLINE_MAX_ROWS or len(body) > INLINE_MAX_BYTES:
            key = result_key(job.job_id)
            client("s3").put_object(
                Bucket=settings.query_results_bucket, Key=key, Body=body.encode(),
                ContentType="application/json",  # the bucket's KMS key by default
            )  # fmt: skip
            ddb.update_item(
                TableName=settings.analytics_jobs_table,
                Key={"job_id": {"S": job.job_id}},
                UpdateExpression="SET result_bucket = :b, result_key = :k",
                ExpressionAttributeValues={":b": {"S": settings.query_results_bucket}, ":k": {"S": key}},
            )
            location = f"s3://{settings.query_results_bucket}/{key}"
        else:
            ddb.update_item(
                TableName=settings.analytics_jobs_table,
                Key={"job_id": {"S": job.job_id}},
                UpdateExpression="SET #result = :r",
                ExpressionAttributeNames={"#result": "result"},
                ExpressionAttributeValues={":r": {"S": json.dumps(result, separators=(",", ":"))}},
            )
            location = "inline"
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"could not store the result of job {job.job_id}: {type(exc).__name__}") from None
    logger.info("analytics job ran", extra={"job_id": job.job_id, "rows": rows, "location": location})
    return {"job_id": job.job_id, "row_count": rows, "result_location": location}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_job(JobInput.model_validate(event), get_settings())
