"""Local triggers: what EventBridge does in AWS when a file lands under ``incoming/``.

S3 (moto) emits the real "Object Created" event to EventBridge (moto), whose
rule (the same pattern as Terraform's) targets a queue; this relay starts the
batch workflow with the event as its input, as EventBridge's Step Functions
target does in AWS.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from typing import Any

from orchestration.ingest import Clients

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def run_name(key: str) -> str:
    stem = _SAFE.sub("_", key.rsplit("/", 1)[-1])[:50]
    return f"{stem}-{uuid.uuid4().hex[:16]}"


class BatchTrigger:
    def __init__(self, clients: Clients, queue_url: str, state_machine_arn: str) -> None:
        self.clients = clients
        self.queue_url = queue_url
        self.state_machine_arn = state_machine_arn
        self.started: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, wait_seconds: int = 1) -> list[str]:
        sqs = self.clients("sqs")
        msgs = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        arns = []
        for m in msgs.get("Messages", []):
            event: dict[str, Any] = json.loads(m["Body"])
            key = event.get("detail", {}).get("object", {}).get("key", "file")
            arn = self.clients("stepfunctions").start_execution(
                stateMachineArn=self.state_machine_arn, name=run_name(key), input=json.dumps(event)
            )["executionArn"]
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            arns.append(arn)
        self.started.extend(arns)
        return arns

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
