"""flatten_transactions: the AWS Glue entry point of the flatten job (the script Terraform uploads).

Glue runs this file with the job's arguments (its defaults merged with the run's: ``--JOB_NAME``,
``--database``, ``--table``, ``--curated_bucket``, ``--warehouse_secret_id``, and per run
``--from_date``, ``--to_date``, ``--backfill``). It parses them, starts the GlueContext and the Job
(bookmarks), and hands one run to :func:`.run.run_job`: the catalog and S3 (:mod:`.sources`), the
contract's transforms (:mod:`.transforms`, :mod:`.schema`) and the warehouse load (:mod:`.load`).
Only this file touches ``awsglue``.

The local runtime runs the same :func:`.run.run_job` behind the local Glue API's StartJobRun
(orchestration/runtime/glue.py); ``mtx glue run flatten_transactions`` starts one by hand.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from glue_jobs.flatten_transactions.arguments import OPTIONAL_ARGS, REQUIRED_ARGS, JobArgs, parse_options


def parse_args(argv: Sequence[str]) -> JobArgs:
    """Glue's ``getResolvedOptions`` when ``awsglue`` imports, else the same names through argparse."""
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        return parse_options(argv)
    # getResolvedOptions fails on a missing name: ask only for the optional ones that were passed
    present = [name for name in OPTIONAL_ARGS if f"--{name}" in argv]
    return JobArgs.from_options(getResolvedOptions(list(argv), [*REQUIRED_ARGS, *present]))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(argv)
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
    except ImportError:
        raise SystemExit(
            "this is the AWS Glue entry point (awsglue is not importable here); "
            "against a local stack run `mtx glue run flatten_transactions`"
        ) from None
    import boto3
    from pyspark.context import SparkContext

    from glue_jobs.flatten_transactions.run import run_job

    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args.job_name, {"JOB_NAME": args.job_name})
    run_job(
        args,
        spark=glue_context.spark_session,
        s3=boto3.client("s3"),
        glue=boto3.client("glue"),
        secrets=boto3.client("secretsmanager"),
        spark_reads_s3=True,
    )
    job.commit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
