"""CheckData: the Great Expectations checkpoints (expectations/checkpoint.py) on S3, warehouse and marts, and the
reconciliation of the real-time aggregates with the mart fct_hourly_revenue (realtime_check.py).

A failed expectation (or a differing rollup) has already raised its own alert (one SNS message listing
them); this step then fails with ``DataChecksFailed`` so the refresh fails too.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from psycopg.conninfo import make_conninfo

from contracts import lineage
from contracts.config import get_settings
from lambdas.common import metrics
from lambdas.common.aws import client
from lambdas.common.errors import PipelineError, needs_analytics_image, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.secrets import get_secret
from lambdas.common.tracing import correlated, get_tracer
from lambdas.run_data_checks.realtime_check import reconcile_when_written

logger = get_logger("run-data-checks")
tracer = get_tracer("run-data-checks")


class DataChecksFailed(PipelineError):
    pass


def dsn_of(secret_id: str) -> str:
    secret = get_secret(secret_id)
    return make_conninfo(
        host=str(secret["host"]), port=str(secret["port"]), user=str(secret["username"]),
        password=str(secret["password"]), dbname=str(secret["dbname"]), **get_settings().db_ssl_options(),
    )  # fmt: skip


def run_data_checks(parent_run_id: str | None = None) -> dict[str, Any]:
    """The checkpoints; ``parent_run_id``: the analytics refresh's execution (the lineage event's parent run)."""
    try:
        from expectations.checkpoint import dead_letter_count, run_checks
        from expectations.suites import MARTS_SCHEMA
    except ModuleNotFoundError as exc:  # the zip deployment: no Great Expectations in the layer
        raise DataChecksFailed(needs_analytics_image("run_data_checks", exc)) from exc

    s = get_settings()
    sqs = client("sqs")
    queue_url = sqs.get_queue_url(QueueName=s.dead_letter_queue_name)["QueueUrl"]
    report = run_checks(
        # the readers: SELECT on raw and the marts; the compliance count through integrity.transaction_count()
        warehouse_dsn=dsn_of(s.warehouse_reader_secret_id),
        compliance_dsn=dsn_of(s.compliance_reader_secret_id),
        s3=client("s3"),
        analytics_bucket=s.analytics_bucket,
        docs_dir=s.home / "data-docs",
        dead_letter_count=dead_letter_count(sqs, queue_url),
        sns=client("sns"),
        alerts_topic_arn=s.alerts_topic_arn,
    )
    summary = report.summary()
    evaluated = sum(s.evaluated for s in report.suites)
    failed_count = sum(s.failed for s in report.suites)
    metrics.emit("DataChecksFailed", failed_count)
    metrics.emit("DataChecksPassed", evaluated - failed_count)
    _emit_freshness(dsn_of(s.warehouse_reader_secret_id))
    realtime = reconcile_when_written(
        dsn_of(s.warehouse_reader_secret_id), MARTS_SCHEMA, metrics.REALTIME_WRITERS, s.realtime_aggregates_table
    )
    if realtime is not None:
        metrics.emit("RealtimeDifferences", len(realtime.differences))
    if lineage.enabled():
        from lambdas.run_data_checks.lineage import event

        lineage.emit(event(summary, get_secret(s.warehouse_reader_secret_id), parent_run_id))
    problems = []
    if not report.success:
        failed = "; ".join(f"{f.get('suite')}: {f.get('expectation_type')} {f.get('column') or ''}".strip()
                           for f in summary.get("failures", [])[:20])  # fmt: skip
        problems.append(f"{len(summary.get('failures', []))} expectations failed: {failed}")
    if realtime is not None and not realtime.ok:
        problems.append(realtime.message())
        client("sns").publish(
            TopicArn=s.alerts_topic_arn, Subject="MTX real-time aggregates differ from the marts",
            Message=json.dumps({"check": "realtime_vs_fct_hourly_revenue", **realtime.summary(),
                                "message": realtime.message()}),
        )  # fmt: skip
    if problems:
        raise DataChecksFailed("; ".join(problems))
    return {
        "success": True, "docs_index": str(report.docs_index), "suites": len(summary.get("suites", [])),
        "realtime": None if realtime is None else realtime.summary(),
    }  # fmt: skip


def _emit_freshness(warehouse_dsn: str) -> None:
    from expectations.inputs import newest_event_at

    newest = newest_event_at(warehouse_dsn)
    if newest is None:
        return  # empty marts: no freshness to report (the alarm treats a day without it as stale)
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=dt.UTC)  # the warehouse keeps UTC in timestamp without time zone
    metrics.emit("MartFreshnessMinutes", round((dt.datetime.now(dt.UTC) - newest).total_seconds() / 60, 1))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_data_checks(event.get("parent_run_id"))
