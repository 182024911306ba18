"""Local triggers: what EventBridge does in AWS when a file lands under ``incoming/``.

S3 (moto) emits the real "Object Created" event to EventBridge (moto), whose
rule (the same pattern as Terraform's) targets a queue; this relay starts the
batch workflow with the event as its input, as EventBridge's Step Functions
target does in AWS.

No event is lost: a message is deleted only once its execution has started (or
had started: the execution name comes from the event's id, so a message seen
again after its start, e.g. when the delete failed, finds its execution instead
of starting a second run). An event whose start fails stays in the queue and is
tried again when SQS shows it again, like EventBridge's retry policy; the other
events of the same receive go on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import uuid
from typing import Any

from orchestration.ingest import Clients

_SAFE = re.compile(r"[^A-Za-z0-9_-]")
_log = logging.getLogger("mtx.triggers")


def run_name(key: str, event_id: str | None = None) -> str:
    """The execution (and run) name: the file's name and 16 hex digits, of the event's id when it has one
    (one event, one execution, however often it is relayed), else random."""
    stem = _SAFE.sub("_", key.rsplit("/", 1)[-1])[:50]
    tail = hashlib.sha256(event_id.encode()).hexdigest() if event_id else uuid.uuid4().hex
    return f"{stem}-{tail[:16]}"


class BatchTrigger:
    def __init__(self, clients: Clients, queue_url: str, state_machine_arn: str) -> None:
        self.clients = clients
        self.queue_url = queue_url
        self.state_machine_arn = state_machine_arn
        self.started: list[str] = []
        self.failed_starts = 0  # events whose start failed, each left in the queue to be tried again
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, wait_seconds: int = 1) -> list[str]:
        sqs = self.clients("sqs")
        msgs = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        arns = []
        for m in msgs.get("Messages", []):
            try:
                arn = self._start(m["Body"])
            except Exception as exc:  # noqa: BLE001 - kept: SQS shows the message again after its visibility timeout
                self.failed_starts += 1
                _log.warning("batch trigger: start failed (%s); the event stays queued", type(exc).__name__)
                continue
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            arns.append(arn)
            self.started.append(arn)
        return arns

    def _start(self, body: str) -> str:
        event: dict[str, Any] = json.loads(body)
        key = event.get("detail", {}).get("object", {}).get("key", "file")
        name = run_name(key, event.get("id"))
        sfn = self.clients("stepfunctions")
        try:
            return str(
                sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(event))[
                    "executionArn"
                ]
            )
        except sfn.exceptions.ExecutionAlreadyExists:  # started by an earlier delivery of this event
            return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - a relay hiccup must not kill the runtime; the message stays queued
                self._stop.wait(1.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mtx-batch-trigger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
