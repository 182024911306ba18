"""The local stand-in of EventBridge's Step Functions target (orchestration/runtime/triggers.py) loses no file event:
a message is deleted only once its execution started; a failed start leaves it queued while the others go
on; an event relayed twice starts one execution. moto in-process (SQS, Step Functions), no servers."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from orchestration.runtime.triggers import BatchTrigger, run_name

pytestmark = pytest.mark.unit

DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


def _event(event_id: str, key: str) -> str:
    return json.dumps({"id": event_id, "detail": {"bucket": {"name": "raw"}, "object": {"key": key, "size": 1}}})


def _queued(sqs: Any, url: str) -> list[str]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return sorted(m["Body"] for m in got.get("Messages", []))


def test_an_event_whose_start_fails_stays_queued_and_starts_once_later(aws: dict[str, Any]) -> None:
    def clients(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1")

    sqs, sfn = clients("sqs"), clients("stepfunctions")
    url = sqs.create_queue(QueueName="trigger", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:mtx-test-batch-ingest"
    trigger = BatchTrigger(clients, url, arn)
    first, poison = _event("e-1", "incoming/a.ndjson"), "not json at all"
    sqs.send_message(QueueUrl=url, MessageBody=first)

    # the state machine does not exist (yet): the start fails, the event is kept
    assert trigger.poll_once(wait_seconds=0) == [] and trigger.failed_starts == 1
    assert _queued(sqs, url) == [first]

    role = "arn:aws:iam::123456789012:role/sfn"
    sfn.create_state_machine(name="mtx-test-batch-ingest", definition=DEFINITION, roleArn=role, type="STANDARD")
    sqs.send_message(QueueUrl=url, MessageBody=poison)  # a message no start can take: it must not block the other
    started = []
    for _ in range(3):  # SQS may hand the two out in separate receives
        started += trigger.poll_once(wait_seconds=0)
    assert started == [f"{arn.replace(':stateMachine:', ':execution:')}:{run_name('incoming/a.ndjson', 'e-1')}"]
    assert _queued(sqs, url) == [poison]  # kept (in AWS: retried, then EventBridge's dead-letter queue)

    # the same event relayed again (its delete was lost): found, not started twice, and deleted this time
    sqs.send_message(QueueUrl=url, MessageBody=first)
    for _ in range(3):
        trigger.poll_once(wait_seconds=0)
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1
    assert _queued(sqs, url) == [poison]


def test_the_run_name_is_the_file_and_the_event() -> None:
    assert run_name("incoming/x y.ndjson", "e-1") == run_name("incoming/x y.ndjson", "e-1")
    assert run_name("incoming/x y.ndjson", "e-1") != run_name("incoming/x y.ndjson", "e-2")
    assert run_name("incoming/x y.ndjson", "e-1").startswith("x_y_ndjson-")
    assert run_name("incoming/a.ndjson") != run_name("incoming/a.ndjson")  # no id: random, as before
