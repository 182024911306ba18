"""Helpers shared by tests (builders and execution runners)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lambdas.common.dead_letters import hand_back
from orchestration.runtime.stack import LocalStack


def unique_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


SAMPLE_TRANSACTION: dict[str, Any] = json.loads(
    """{
    "transactionId": "1",
    "user_id": "user_987654321",
    "game": "Path Of Exile 2",
    "item_purchased": {"item_id": "mtx_abyssal_wings", "item_name": "Abyssal Wings", "item_type": "cosmetic",
                       "price": {"currency": "USD", "amount": 10}},
    "payment_details": {"payment_method": "credit_card", "card_last4": "1234", "transaction_status": "pending",
                        "gateway": "Stripe"},
    "event_timestamp": "2025-02-09T12:34:56Z",
    "server_region": "EU-West",
    "client_ip": "192.168.1.1"
}"""
)


#: SQS allows one PurgeQueue a minute per queue (moto too, by default)
PURGE_INTERVAL_SECONDS = 60


def empty_queue(sqs: Any, url: str) -> None:
    """Leave a queue with no message at all, also none in flight.

    The visible messages are received and deleted. One that an earlier test received and left in flight (a
    peek that did not hand it back, a redrive that kept it) is invisible to that, and would come back in the
    middle of the next test. So when any stays, the queue is purged: PurgeQueue deletes messages in flight
    too. It is allowed once a minute per queue; a second purge within the minute waits for its turn. A
    message sent after the purge (a late one of an earlier test) is visible, and drained like the first ones.
    The local stack's SQS (moto) purges at once; AWS's may take up to a minute, which this does not wait for."""
    _drain(sqs, url)
    if queue_depth(sqs, url) == 0:
        return
    deadline = time.monotonic() + PURGE_INTERVAL_SECONDS + 30
    while True:
        try:
            sqs.purge_queue(QueueUrl=url)
            break
        except sqs.exceptions.PurgeQueueInProgress:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
    _drain(sqs, url)
    hidden = queue_depth(sqs, url, ("ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"))
    assert hidden == 0, f"{url}: {hidden} messages in flight or delayed after a purge"


def _drain(sqs: Any, url: str) -> None:
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        )


DEPTH = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")


def queue_depth(sqs: Any, url: str, names: tuple[str, ...] = DEPTH) -> int:
    """Messages in a queue: visible, in flight and delayed (or those of ``names`` only)."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))["Attributes"]
    return sum(int(attributes.get(n, 0)) for n in names)


def peek_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every visible message of a queue, each received once and handed back (visible again) before returning:
    the queue is left as it was found."""
    found: dict[str, dict[str, Any]] = {}
    while msgs := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300, WaitTimeSeconds=0,
        MessageAttributeNames=["All"],
    ).get("Messages"):  # fmt: skip
        found.update((m["MessageId"], m) for m in msgs)
    hand_back(sqs, url, [m["ReceiptHandle"] for m in found.values()])  # the product's own, failed entries retried
    return list(found.values())


def s3_clock() -> dt.datetime:
    """Now, as a lower bound for the LastModified of the objects written after it: five seconds early, because
    moto's listings give LastModified in whole seconds (truncated) and a clock may step back a little."""
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)


def objects_written_since(
    s3: Any, bucket: str, since: dt.datetime, prefix: str = "", key_contains: str = ""
) -> Iterator[tuple[str, bytes]]:
    """(key, body) of every object under ``prefix`` (whose key holds ``key_contains``) written at or after
    ``since`` (see s3_clock).

    What a test could have written, not what every earlier test of the run left in the shared stack's buckets:
    by the end of the suite those are thousands of objects, a GET each, and reading them all took a test from
    ~5 s to ~30 s. Listing stays complete; only bodies are skipped."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["LastModified"] >= since and key_contains in obj["Key"]:
                yield obj["Key"], s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()


def seed_tx(**overrides: Any) -> dict[str, Any]:
    tx = json.loads(json.dumps(SAMPLE_TRANSACTION))
    tx["transactionId"] = unique_id()
    for key, value in overrides.items():
        tx[key] = value
    return tx


def run_execution(stack: LocalStack, machine: str, payload: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.state_machine_arn(machine), name=uuid.uuid4().hex, input=json.dumps(payload)
    )["executionArn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return dict(d)
        time.sleep(0.02)
    raise TimeoutError(f"execution {arn} still running after {timeout} s")


def stack_env(home: Path) -> dict[str, str]:
    """This process's environment plus what a running stack's <home>/stack.env exports (as `source` would)."""
    env = dict(os.environ)
    for line in (home / "stack.env").read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = json.loads(value)
    return env


# What AWS Lambda does to multiprocessing: it has no /dev/shm, so no semaphore can be created there.
_NO_SEMAPHORES = """
import json, logging, os, sys
import _multiprocessing


class _NoSemaphores:
    SEM_VALUE_MAX = _multiprocessing.SemLock.SEM_VALUE_MAX

    def __init__(self, *args, **kwargs):
        raise OSError(38, "Function not implemented")


_multiprocessing.SemLock = _NoSemaphores
"""


def run_without_semaphores(code: str, env: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    """Run `code` in a fresh Python where creating a multiprocessing semaphore fails as in AWS Lambda;
    `code` prints one JSON object on its last line, which is returned. Secrets go in `env`, never in `code`."""
    import subprocess
    import sys

    from orchestration.settings import REPO_ROOT

    done = subprocess.run(
        [sys.executable, "-c", _NO_SEMAPHORES + code], capture_output=True, text=True, timeout=timeout, check=False,
        env={**env, "PYTHONPATH": str(REPO_ROOT)}, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def command_output(out: str) -> str:
    """What an `mtx` command run in this process printed, without the metric (EMF) lines of the stack's handlers
    that run in the same process (a real `mtx` process sends those to the stack's file: emf.stack_file)."""
    return "".join(line for line in out.splitlines(keepends=True) if not line.startswith('{"_aws"'))


def moto_sfn_execution(monkeypatch: Any, on: bool) -> None:
    """For this test only: moto's Step Functions run executions (``on``) or leave each RUNNING until stopped. A local
    stack started earlier in the process turned execution on (and may scale waits to nothing)."""
    from moto.core.config import default_user_config

    current = default_user_config.get("stepfunctions", {})
    monkeypatch.setitem(default_user_config, "stepfunctions", {**current, "execute_state_machine": on})
