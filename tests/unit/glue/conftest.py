"""Fixtures of the Glue tests: one local SparkSession (UTC), moto S3 + Glue."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pyspark.sql import SparkSession

from glue_jobs.flatten_transactions import job


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # PySpark turns timestamps into naive datetimes in the *Python* process's zone: make it UTC too
    previous_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    session = job.local_spark_session(app_name="mtx-glue-unit-tests", master="local[2]", shuffle_partitions=2)
    try:
        yield session
    finally:
        session.stop()
        if previous_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = previous_tz
        time.tzset()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto in-process: an analytics and a curated bucket, S3 and Glue clients."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        glue = boto3.client("glue", region_name="us-east-1")
        for bucket in ("mtx-test-analytics", "mtx-test-curated"):
            s3.create_bucket(Bucket=bucket)
        yield {"s3": s3, "glue": glue, "bucket": "mtx-test-analytics", "curated": "mtx-test-curated"}
