"""FlattenTransactions: the Glue job ``glue_jobs/flatten_transactions/job.py``.

In AWS: start the Terraform-created job (same script, Glue 5.1, bookmarks) and
wait for it. Locally: the same job code on a local SparkSession (Spark pinned to
Glue 5.1's 3.5.6), reading the catalogued table through the Glue Data Catalog.
"""

from __future__ import annotations

import time
from typing import Any

from contracts.config import get_settings
from lambdas.common.aws import client
from lambdas.common.errors import PipelineError, stable_errors
from lambdas.common.logging import get_logger

logger = get_logger("run-flatten-job")
JOB_SUFFIX = "flatten-transactions"
_spark: Any = None


class GlueJobFailed(PipelineError):
    pass


def _local_spark() -> Any:
    global _spark
    if _spark is None:
        from glue_jobs.flatten_transactions.job import local_spark_session

        _spark = local_spark_session(master="local[2]")
    return _spark


def stop_spark() -> None:
    """Stop the local SparkSession (its JVM) if this process started one."""
    global _spark
    if _spark is not None:
        _spark.stop()
        _spark = None


def run_flatten_job(from_date: str | None = None, to_date: str | None = None, backfill: bool = False,
                    poll_seconds: float = 15.0, timeout: float = 840.0) -> dict[str, Any]:  # fmt: skip
    s = get_settings()
    name = f"{s.name_prefix}-{JOB_SUFFIX}"
    options = {
        "JOB_NAME": name, "database": s.glue_database, "table": "transactions", "curated_bucket": s.curated_bucket,
        "warehouse_secret_id": s.warehouse_transformer_secret_id,
        "from_date": from_date or "", "to_date": to_date or "",
        "backfill": "true" if backfill else "false",
    }  # fmt: skip
    if s.aws_endpoint_url:
        from glue_jobs.flatten_transactions.job import JobArgs, run_job

        args = JobArgs.from_options(options)
        result = run_job(args, spark=_local_spark(), s3=client("s3"), glue=client("glue"),
                         secrets=client("secretsmanager"))  # fmt: skip
        return {
            "job": name, "run_id": result.run_id, "status": result.status, "partitions": len(result.partitions),
            "rows_read": result.rows_read, "rows_rejected": result.rows_rejected, "rows_loaded": result.rows_loaded,
        }  # fmt: skip
    glue = client("glue")
    arguments = {f"--{k}": v for k, v in options.items() if k != "JOB_NAME" and v}
    run_id = glue.start_job_run(JobName=name, Arguments=arguments)["JobRunId"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        if run["JobRunState"] == "SUCCEEDED":
            return {"job": name, "run_id": run_id, "status": "succeeded"}
        if run["JobRunState"] in ("FAILED", "ERROR", "TIMEOUT", "STOPPED"):
            raise GlueJobFailed(f"job {name} run {run_id}: {run['JobRunState']}: {run.get('ErrorMessage', '')}")
        time.sleep(poll_seconds)
    raise GlueJobFailed(f"job {name} run {run_id} still running after {timeout} s")


@logger.inject_lambda_context(log_event=False)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_flatten_job(event.get("from_date"), event.get("to_date"), bool(event.get("backfill", False)))
