"""The local moto's Scan does not fail while other threads write (orchestration/runtime/moto_dynamodb.py):
moto 5.2.5 iterates a table's dicts with no lock, and a put of a new key meanwhile failed the read with
"dictionary changed size during iteration" (a 500 to the caller). Without the patch most of these scans fail."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends

from orchestration.runtime.moto_dynamodb import patch_moto_dynamodb_writes
from tests.moto_tables import create_pk_sk_table

pytestmark = pytest.mark.unit


def _racing(read: Callable[[Any], Any], rounds: int = 20) -> list[Exception]:
    """``read`` the table ``rounds`` times while another thread puts new items; the reads' errors."""
    backend = dynamodb_backends["123456789012"]["us-east-1"]
    errors: list[Exception] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            backend.put_item("race", {"pk": {"S": "p"}, "sk": {"S": f"w{i}"}})
            backend.put_item("race", {"pk": {"S": f"w{i}"}, "sk": {"S": "0"}})
            i += 1
            time.sleep(0)  # let the reader in: the lock is not fair, a request-paced writer would

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(rounds):
            try:
                read(backend)
            except RuntimeError as exc:
                errors.append(exc)
    finally:
        stop.set()
        thread.join()
    return errors


@pytest.fixture
def table(fake_aws_env: None) -> Any:
    patch_moto_dynamodb_writes()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_pk_sk_table(client, "race")
        backend = dynamodb_backends["123456789012"]["us-east-1"]
        for i in range(3000):
            backend.put_item("race", {"pk": {"S": f"a{i}"}, "sk": {"S": "0"}})
            backend.put_item("race", {"pk": {"S": "p"}, "sk": {"S": f"a{i}"}})
        yield client


def test_a_scan_while_others_write_does_not_fail(table: Any) -> None:
    errors = _racing(lambda backend: backend.scan(
        "race", filters={}, limit=None, exclusive_start_key=None, filter_expression=None, expr_names={},
        expr_values={}, index_name=None, consistent_read=True, projection_expression=None, segments=(None, None),
    ))  # fmt: skip
    assert errors == []
