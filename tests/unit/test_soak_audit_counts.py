"""The soak's audit counts analytics copies per transaction VERSION (issue 25): a status update is a second
version stored by design, not a duplicate; one version written twice is. A fresh-clone CI run once reported
22 "duplicates" that were status updates stored by other tests of the same stack, so the count is also
limited to the soak's own transactions (tests/integration/test_soak.py proves that end to end)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestration.cli.soak_audit import _analytics_ids

pytestmark = pytest.mark.unit


@pytest.fixture
def s3(fake_aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="analytics")
        yield client


def _put(s3: Any, key: str, body: str = "{}") -> None:
    s3.put_object(Bucket="analytics", Key=f"transactions/year=2026/month=12/{key}", Body=body.encode())


def _lines(*records: tuple[str, int | None]) -> str:
    return "\n".join(json.dumps({"transactionId": t, **({} if v is None else {"version": v})}) for t, v in records)


def test_versions_are_counted_apart_and_a_version_written_twice_is_not(s3: Any) -> None:
    _put(s3, "a.json")  # a: version 1 per object, version 2 per object, version 3 in a batch file
    _put(s3, "a.v2.json")
    _put(s3, "batch-1.ndjson", _lines(("a", 3), ("b", 1), ("c", None)))
    _put(s3, "batch-2.ndjson", _lines(("b", 1), ("c", 2)))  # b's version 1 twice: a duplicate
    _put(s3, "d.v2.json")
    _put(s3, "d.v2.json")  # the same key again is an overwrite, one copy (a retry)

    counts = _analytics_ids(lambda _name: s3, "analytics")

    assert counts == {"a": 1, "b": 2, "c": 1, "d": 1}
