"""QuarantineFile: move a file that failed its run aside (``rejected/``), never delete it."""

from __future__ import annotations

from typing import Any

from lambdas.common.aws import client
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("quarantine-file")
tracer = get_tracer("quarantine-file")


def quarantine(bucket: str, key: str, run_id: str) -> dict[str, Any]:
    s3 = client("s3")
    target = f"rejected/{run_id}/{key.rsplit('/', 1)[-1]}"
    s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})  # the bucket's KMS key
    s3.delete_object(Bucket=bucket, Key=key)
    return {"moved_to": f"s3://{bucket}/{target}"}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return quarantine(event["bucket"], event["key"], event["run_id"])
