"""UndoPartialWrite: when one branch of the parallel store failed, remove what the other wrote.

A transaction is stored (RDS row + analytics copy) or dead-lettered, never both:
before a transaction goes to the dead-letter queue after a partial write, its
compliance row, S3 object and DynamoDB item are removed. Only the execution that
registered the transaction as PENDING reaches this state, so nothing another
execution completed is touched. Each step tolerates "already absent".
"""

from __future__ import annotations

from typing import Any

from contracts.config import get_settings
from lambdas.common.aws import client
from lambdas.common.db import connection
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer
from lambdas.store_analytics.handler import s3_key

logger = get_logger("undo-partial-write")
tracer = get_tracer("undo-partial-write")


def undo(transaction_id: str, event_date: str, keep_compliance: bool = False) -> dict[str, Any]:
    settings = get_settings()
    client("s3").delete_object(Bucket=settings.analytics_bucket, Key=s3_key(event_date, transaction_id))
    client("dynamodb").delete_item(TableName=settings.analytics_table, Key={"transaction_id": {"S": transaction_id}})
    deleted = 0
    if keep_compliance:
        return {"transaction_id": transaction_id, "compliance_rows_deleted": deleted}
    with connection(settings.compliance_writer_secret_id) as conn, conn.transaction():
        exists = conn.execute("select to_regclass('compliance.transactions')").fetchone()
        if exists and exists[0]:
            # only a row of this entrance: one stored by the batch path is another ingest's, complete
            deleted = conn.execute(
                "delete from compliance.transactions where transaction_id = %s"
                " and coalesce(execution_id, '') not like 'batch:%%'",
                (transaction_id,),
            ).rowcount
    return {"transaction_id": transaction_id, "compliance_rows_deleted": deleted}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return undo(event["transaction_id"], event["event_date"], bool(event.get("keep_compliance", False)))
