"""StoreAnalyticsRecord: the PII-free copy of one stored version to S3 (dt= partition) and the DynamoDB
analytics table.

The record carries the version fields (``contracts.lifecycle.version_stamp``: version, previous_status,
status_updated_at) of the version StoreComplianceRecord stored. S3 holds one immutable object per version
(version 1 ``<id>.json``, version n ``<id>.v<n>.json``), so a retry overwrites the same object and the warehouse
gets the history. DynamoDB holds the current version per transaction: the put is conditional on the item
holding no newer version (an older version arriving late, or retried late, never overwrites a newer one; a
refused condition means a newer version is there: fine). The
application that sent it (``producer_id``, when known) is stamped on both: the DynamoDB item's
``producer_id`` attribute and the S3 object's ``producer-id`` metadata (not the JSON body, whose
columns are those of ``contracts.warehouse``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from contracts.config import get_settings
from contracts.lifecycle import version_stamp
from lambdas.common import metrics, realtime
from lambdas.common.aws import client
from lambdas.common.errors import AnalyticsWriteFailed, StorageUnavailable, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("store-analytics")
tracer = get_tracer("store-analytics")

_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "ThrottlingException",
                    "ProvisionedThroughputExceededException", "RequestLimitExceeded"}  # fmt: skip


def s3_key(event_date: str, transaction_id: str, version: int = 1) -> str:
    """Version 1: ``<id>.json`` (as before versions); version n > 1: ``<id>.v<n>.json``, same partition."""
    # ':' is allowed in ids but breaks Hadoop/Spark paths (the Glue job reads these keys): percent-encode it
    suffix = "" if version == 1 else f".v{version}"
    return f"transactions/dt={event_date}/{quote(transaction_id, safe='-_.')}{suffix}.json"


#: The DynamoDB item is the current version: never replaced by an older (or the same) one.
NEWER_ONLY = "attribute_not_exists(#version) OR #version < :v"


def analytics_item(
    record: dict[str, Any], transaction_id: str, event_date: str, producer_id: str | None
) -> dict[str, Any]:
    item = {k: _to_av(v) for k, v in record.items()}
    item["transaction_id"] = {"S": transaction_id}
    item["event_date"] = {"S": event_date}
    if producer_id:
        item["producer_id"] = {"S": producer_id}
    return item


def _to_av(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {"M": {k: _to_av(v) for k, v in value.items()}}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    return {"S": str(value)}


def store(
    record: dict[str, Any], transaction_id: str, event_date: str, producer_id: str | None,
    stored: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """Write the analytics copy of the version ``stored`` (StoreComplianceRecord's answer: version,
    previous_status, status_updated_at)."""
    settings = get_settings()
    version = int(stored["version"])
    record = {**record, **version_stamp(version, stored.get("previous_status"), str(stored["status_updated_at"]))}
    key = s3_key(event_date, transaction_id, version)
    body = json.dumps(record, separators=(",", ":")).encode()
    metadata = {"producer-id": producer_id} if producer_id else {}
    ddb = client("dynamodb")
    current = True
    try:
        client("s3").put_object(
            Bucket=settings.analytics_bucket, Key=key, Body=body,
            ContentType="application/json", Metadata=metadata,  # the bucket's KMS key by default
        )  # fmt: skip
        item = analytics_item(record, transaction_id, event_date, producer_id)
        try:
            ddb.put_item(
                TableName=settings.analytics_table, Item=item,
                ConditionExpression=NEWER_ONLY, ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":v": {"N": str(version)}},
            )  # fmt: skip
        except ddb.exceptions.ConditionalCheckFailedException:
            current = False  # this version (a retry) or a newer one is the item already
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        cls = StorageUnavailable if code in _TRANSIENT_CODES else AnalyticsWriteFailed
        raise cls(
            f"analytics copy of {transaction_id}: {code or 'error'} writing s3://{settings.analytics_bucket}/{key}"
        ) from None
    except BotoCoreError as exc:
        raise StorageUnavailable(f"analytics copy of {transaction_id}: {type(exc).__name__}") from None
    # the last write: exactly once per version (its marker), whatever retries or redrives run this again
    realtime.apply_version(*realtime.of_record({**record, "transactionId": transaction_id}))
    return {"s3_key": key, "version": version, "item_written": current}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with metrics.stage("StoreAnalyticsRecord"):
        written = store(
            event["record"], event["transaction_id"], event["event_date"], event.get("producer_id"),
            event["stored"],
        )  # fmt: skip
    # the last write of a stored version (the compliance row is written before it)
    metrics.emit("TransactionsStored", 1, Entrance="api")
    return written
