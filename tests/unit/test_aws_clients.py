"""The process's boto3 clients (lambdas/common/aws.py): one SDK session for all of them, made again after
``reset_clients``, which is also when a changed endpoint takes effect.

What could fail: a session per client (each reads the SDK's endpoint data and models again: ~0.1 s of a cold
start per client), a client that survives ``reset_clients`` with the old endpoint, clients made at once from
threads getting one another's service."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from lambdas.common import aws

pytestmark = pytest.mark.unit


@pytest.fixture
def sessions(fake_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    made: list[Any] = []
    real = boto3.session.Session

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(boto3.session, "Session", counted)
    aws.reset_clients()
    yield made
    aws.reset_clients()


def test_the_clients_share_one_session_until_reset(sessions: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    services = ("s3", "dynamodb", "sqs", "sns")
    first = {name: aws.client(name) for name in services}
    assert len(sessions) == 1
    assert all(aws.client(name) is first[name] for name in services)  # cached
    assert [c.meta.service_model.service_name for c in first.values()] == list(services)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert aws.client("s3").meta.endpoint_url != "http://127.0.0.1:9"  # the cached client keeps its endpoint
    aws.reset_clients()
    again = aws.client("s3")
    assert len(sessions) == 2 and again is not first["s3"] and again.meta.endpoint_url == "http://127.0.0.1:9"


def test_clients_made_at_once_from_threads_each_get_their_service(sessions: list[Any]) -> None:
    services = ["s3", "dynamodb", "sqs", "sns", "kinesis", "stepfunctions", "secretsmanager", "events"] * 3
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(aws.client, services))
    assert [c.meta.service_model.service_name for c in made] == services
    assert len({id(c) for c in made}) == len(set(services)) and len(sessions) == 1
