"""StoreAnalyticsRecord: the PII-free copy to S3 (dt= partition) and the DynamoDB analytics table.

Keys are the transaction id, so a retry or a re-send overwrites the same object/item. The
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
from lambdas.common import metrics
from lambdas.common.aws import client
from lambdas.common.errors import AnalyticsWriteFailed, StorageUnavailable, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("store-analytics")
tracer = get_tracer("store-analytics")

_TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "ThrottlingException",
                    "ProvisionedThroughputExceededException", "RequestLimitExceeded"}  # fmt: skip


def s3_key(event_date: str, transaction_id: str) -> str:
    # ':' is allowed in ids but breaks Hadoop/Spark paths (the Glue job reads these keys): percent-encode it
    return f"transactions/dt={event_date}/{quote(transaction_id, safe='-_.')}.json"


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
    record: dict[str, Any], transaction_id: str, event_date: str, producer_id: str | None = None
) -> dict[str, Any]:
    settings = get_settings()
    key = s3_key(event_date, transaction_id)
    body = json.dumps(record, separators=(",", ":")).encode()
    metadata = {"producer-id": producer_id} if producer_id else {}
    try:
        client("s3").put_object(
            Bucket=settings.analytics_bucket, Key=key, Body=body,
            ContentType="application/json", Metadata=metadata,  # the bucket's KMS key by default
        )  # fmt: skip
        item = {k: _to_av(v) for k, v in record.items()}
        item["transaction_id"] = {"S": transaction_id}
        item["event_date"] = {"S": event_date}
        if producer_id:
            item["producer_id"] = {"S": producer_id}
        client("dynamodb").put_item(TableName=settings.analytics_table, Item=item)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        cls = StorageUnavailable if code in _TRANSIENT_CODES else AnalyticsWriteFailed
        raise cls(
            f"analytics copy of {transaction_id}: {code or 'error'} writing s3://{settings.analytics_bucket}/{key}"
        ) from None
    except BotoCoreError as exc:
        raise StorageUnavailable(f"analytics copy of {transaction_id}: {type(exc).__name__}") from None
    return {"s3_key": key}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with metrics.stage("StoreAnalyticsRecord"):
        stored = store(event["record"], event["transaction_id"], event["event_date"], event.get("producer_id"))
    # the last write of a transaction's storing branches (the compliance row is written beside it)
    metrics.emit("TransactionsStored", 1, Entrance="api")
    return stored
