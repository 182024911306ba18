"""Shared fixtures: the real local stack (PostgreSQL + moto server + API) and one SparkSession, once per test run."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from orchestration.runtime.stack import LocalStack
from tests.helpers import empty_queue

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytest_plugins = ["tests.tiers", "tests.parallel", "tests.terraform_stack"]


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """The local stack, Retry/Wait sleeps switched off (time_scale=0).

    Its home is a fresh folder under the system temp dir, traversable by the
    unprivileged user PostgreSQL runs as (pytest's own tmp dirs are 0700).
    """
    from tests import parallel  # the plugin (pytest_plugins below): imported by pytest first

    parallel.stack_starting()
    home = Path(tempfile.mkdtemp(prefix="mtx-test-stack-"))
    home.chmod(0o755)
    local = LocalStack(home=home, time_scale=0.0)
    local.start()
    try:
        yield local
    finally:
        local.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local SparkSession (UTC) for the whole run: the Glue tests and the stack's local Glue job share it.

    ``local_spark_session`` ends in ``getOrCreate``, so the flatten job the local runtime runs in this
    process (behind moto's StartJobRun, orchestration/runtime/glue.py) gets this session instead of starting a
    second JVM.
    """
    from glue_jobs.flatten_transactions import run

    # PySpark turns timestamps into naive datetimes in the *Python* process's zone: make it UTC too
    previous_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    session = run.local_spark_session(app_name="mtx-tests", master="local[2]", shuffle_partitions=2)
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
def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's fake credentials and us-east-1 in the environment, and no endpoint: the boto3 clients a test makes
    go to moto in-process (``mock_aws``), never to a stack's moto server or to AWS."""
    from orchestration.runtime.moto_server import FAKE_CREDENTIALS

    for name, value in {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "MTX_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto in-process: an analytics and a curated bucket, S3 and Glue clients (the Glue tests)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from lambdas.common.aws import reset_clients

    reset_clients()  # clients made for the session's stack point at its moto server, not at mock_aws
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        glue = boto3.client("glue", region_name="us-east-1")
        for bucket in ("mtx-test-analytics", "mtx-test-curated"):
            s3.create_bucket(Bucket=bucket)
        yield {"s3": s3, "glue": glue, "bucket": "mtx-test-analytics", "curated": "mtx-test-curated"}
    reset_clients()


@pytest.fixture
def clean_queues(stack: LocalStack) -> LocalStack:
    """Empty the dead-letter queue and the alerts inbox before a test, messages in flight included (an earlier
    test's letter received and not handed back would come back mid-test: tests/helpers.py empty_queue)."""
    assert stack.provisioned is not None
    sqs = stack.client("sqs")
    for url in (stack.dead_letter_queue_url, stack.provisioned.alerts_inbox_url):
        empty_queue(sqs, url)
    return stack


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
