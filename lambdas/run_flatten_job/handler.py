"""FlattenTransactions: the Glue job ``glue_jobs/flatten_transactions/job.py``.

Start the Terraform-created job (same script, Glue 5.1, bookmarks) and wait for it.
Only the Glue API: locally the runtime (``orchestration/runtime/glue.py``) runs the same job
code on a local SparkSession (Spark pinned to Glue 5.1's 3.5.6) behind moto's
StartJobRun/GetJobRun, as AWS Glue does behind its own.
"""

from __future__ import annotations

import time
from typing import Any

from contracts.config import get_settings
from lambdas.common.aws import client, poll_waits
from lambdas.common.errors import PipelineError, stable_errors
from lambdas.common.logging import get_logger

logger = get_logger("run-flatten-job")
JOB_SUFFIX = "flatten-transactions"


class GlueJobFailed(PipelineError):
    pass


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
    glue = client("glue")
    arguments = {f"--{k}": v for k, v in options.items() if k != "JOB_NAME" and v}
    run_id = glue.start_job_run(JobName=name, Arguments=arguments)["JobRunId"]
    deadline = time.monotonic() + timeout
    waits = poll_waits(poll_seconds)
    while time.monotonic() < deadline:
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        if run["JobRunState"] == "SUCCEEDED":
            return {"job": name, "run_id": run_id, "status": "succeeded"}
        if run["JobRunState"] in ("FAILED", "ERROR", "TIMEOUT", "STOPPED"):
            raise GlueJobFailed(f"job {name} run {run_id}: {run['JobRunState']}: {run.get('ErrorMessage', '')}")
        time.sleep(next(waits))
    raise GlueJobFailed(f"job {name} run {run_id} still running after {timeout} s")


@logger.inject_lambda_context(log_event=False)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_flatten_job(event.get("from_date"), event.get("to_date"), bool(event.get("backfill", False)))
