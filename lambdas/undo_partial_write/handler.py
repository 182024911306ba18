"""UndoPartialWrite: before a transaction message is dead-lettered, remove the version this execution stored.

A message is stored (compliance version + its analytics copy) or dead-lettered, never both. The version this
execution wrote is found in the compliance store itself (``compliance.transaction_versions``, whose
``execution_id`` is the writer), never taken from the state's data, so a failure anywhere (the compliance
write whose answer was lost, the analytics write) undoes exactly what was written and nothing another
execution or entrance stored:

1. the analytics copy of that version: its S3 object (``<id>.json`` / ``<id>.v<n>.json``), and the DynamoDB
   item if it holds that version (version 1: deleted; version n > 1: put back to version n - 1 from that
   version's S3 object);
2. the compliance row: version 1 deleted (its history goes with it); version n > 1 updated back one version
   from the previous version's raw record (the database's trigger removes the history row).

A version under a newer one (another message moved the transaction on meanwhile) cannot be taken back: it is
left stored and reported as ``superseded`` (a redrive of the dead letter finds it as its own and completes
it). Each step tolerates "already absent", so a retried undo is harmless.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from botocore.exceptions import ClientError

from contracts.compliance import SCHEMA, TABLE, VERSIONS_TABLE, WRITTEN, compliance_row
from contracts.config import get_settings
from contracts.lifecycle import split_message_key
from lambdas.common import realtime
from lambdas.common.aws import client
from lambdas.common.db import connection
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer
from lambdas.store_analytics.handler import analytics_item, s3_key

logger = get_logger("undo-partial-write")
tracer = get_tracer("undo-partial-write")

MINE_SQL = (
    f"select v.version, t.version from {SCHEMA}.{VERSIONS_TABLE} v join {SCHEMA}.{TABLE} t using (transaction_id)"
    " where v.transaction_id = %s and v.execution_id = %s order by v.version desc limit 1"
)
PREVIOUS_SQL = (
    f"select raw, execution_id, previous_status, recorded_at from {SCHEMA}.{VERSIONS_TABLE}"
    " where transaction_id = %s and version = %s"
)
#: one version back: the previous version's written columns, its previous status, time and writer
BACK_SQL = (
    f"update {SCHEMA}.{TABLE} set "
    + ", ".join(f"{name} = %({name})s" for name in WRITTEN if name != "transaction_id")
    + ", version = version - 1, previous_status = %(back_previous_status)s, updated_at = %(back_updated_at)s\n"
    "where transaction_id = %(transaction_id)s and version = %(undone)s"
)


def my_version(conn: psycopg.Connection, transaction_id: str, execution_id: str) -> tuple[int, int] | None:
    """(the latest version this execution stored, the transaction's current version), or None."""
    row = conn.execute(MINE_SQL, (transaction_id, execution_id)).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def undo_compliance(conn: psycopg.Connection, transaction_id: str, version: int) -> int:
    """Take the current version ``version`` back (inside the caller's transaction); rows changed."""
    if version == 1:
        return conn.execute(
            f"delete from {SCHEMA}.{TABLE} where transaction_id = %s and version = 1",
            (transaction_id,),
        ).rowcount
    prev = conn.execute(PREVIOUS_SQL, (transaction_id, version - 1)).fetchone()
    if prev is None:
        return 0
    raw, writer, previous_status, recorded_at = prev
    params = {**compliance_row(raw, writer), "back_previous_status": previous_status,
              "back_updated_at": recorded_at, "undone": version}  # fmt: skip
    return conn.execute(BACK_SQL, params).rowcount


#: what "already absent" looks like in S3 (the object or the whole bucket is gone)
ABSENT = frozenset({"NoSuchKey", "NoSuchBucket", "404"})


def undo_analytics(transaction_id: str, event_date: str, version: int) -> None:
    settings = get_settings()
    s3, ddb = client("s3"), client("dynamodb")
    try:
        # the real-time rollups first: what this version added is taken back once (its marker), read from the copy
        got = s3.get_object(Bucket=settings.analytics_bucket, Key=s3_key(event_date, transaction_id, version))
        realtime.withdraw_version(*realtime.of_record(json.loads(got["Body"].read())))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ABSENT:
            raise
    try:
        s3.delete_object(Bucket=settings.analytics_bucket, Key=s3_key(event_date, transaction_id, version))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ABSENT:
            raise
    key = {"transaction_id": {"S": transaction_id}}
    only_mine = {"ConditionExpression": "attribute_not_exists(#version) OR #version = :v",
                 "ExpressionAttributeNames": {"#version": "version"},
                 "ExpressionAttributeValues": {":v": {"N": str(version)}}}  # fmt: skip
    try:
        if version == 1:
            ddb.delete_item(TableName=settings.analytics_table, Key=key, **only_mine)
            return
        try:
            got = s3.get_object(Bucket=settings.analytics_bucket, Key=s3_key(event_date, transaction_id, version - 1))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ABSENT:
                raise
            ddb.delete_item(TableName=settings.analytics_table, Key=key, **only_mine)
            return
        record = json.loads(got["Body"].read())
        producer = got.get("Metadata", {}).get("producer-id")
        item = analytics_item(record, transaction_id, event_date, producer)
        ddb.put_item(TableName=settings.analytics_table, Item=item, **only_mine)
    except ddb.exceptions.ConditionalCheckFailedException:
        pass  # the item holds another version: not this execution's to change


RECALL_SQL = f"select raw from {SCHEMA}.{VERSIONS_TABLE} where transaction_id = %s and transaction_status = %s"


def undo(transaction_id: str, event_date: str, execution_id: str, message_key: str | None = None) -> dict[str, Any]:
    """Undo this execution's version. With ``message_key`` (a failure after the compliance write, whose state no
    longer carries the transaction), the stored record of that message is handed back as ``transaction`` for the
    dead letter (read before the undo; None when no version of it is stored)."""
    settings = get_settings()
    out: dict[str, Any] = {"transaction_id": transaction_id, "undone_version": None, "compliance_rows_changed": 0}
    with connection(settings.compliance_writer_secret_id) as conn:
        with conn.transaction():
            found = my_version(conn, transaction_id, execution_id)
            if message_key is not None:
                row = conn.execute(RECALL_SQL, (transaction_id, split_message_key(message_key)[1])).fetchone()
                out["transaction"] = row[0] if row else None
        if found is None:
            return out
        version, current = found
        if version != current:
            logger.warning("version superseded, left stored", extra={"transaction_id": transaction_id})
            return {**out, "superseded": version}
        undo_analytics(transaction_id, event_date, version)  # first: the version is still findable on a retry
        with conn.transaction():
            changed = undo_compliance(conn, transaction_id, version)
    return {**out, "undone_version": version, "compliance_rows_changed": changed}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return undo(event["transaction_id"], event["event_date"], event["execution_id"], event.get("message_key"))
