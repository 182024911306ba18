"""Shared fixtures: the real local stack (PostgreSQL + moto server + API), once per test session."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.runtime.stack import LocalStack


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """The local stack, Retry/Wait sleeps switched off (time_scale=0).

    Its home is a fresh folder under the system temp dir, traversable by the
    unprivileged user PostgreSQL runs as (pytest's own tmp dirs are 0700).
    """
    home = Path(tempfile.mkdtemp(prefix="mtx-test-stack-"))
    home.chmod(0o755)
    local = LocalStack(home=home, time_scale=0.0)
    local.start()
    try:
        yield local
    finally:
        local.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def clean_queues(stack: LocalStack) -> LocalStack:
    """Empty the dead-letter queue and the alerts inbox before a test."""
    assert stack.provisioned is not None
    sqs = stack.client("sqs")
    for url in (stack.dead_letter_queue_url, stack.provisioned.alerts_inbox_url):
        # PurgeQueue is limited to once a minute per queue: drain instead
        while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
            )
    return stack


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need no local stack run first, those that use it after.

    Some tests use moto in-process (``mock_aws``), which resets every moto backend
    of this process when it starts and stops, the running stack's included.
    Running them all before the session's stack is first created keeps the two
    apart; the relative order inside each group is kept.
    """
    items.sort(key=lambda item: "stack" in getattr(item, "fixturenames", ()))
