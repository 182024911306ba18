"""The Lambda event source mapping of the Kinesis stream, played locally (moto has the stream, not the poller).

In AWS (infra/terraform/modules/stream) Lambda reads each shard and invokes the function with batches;
here one thread does the same against moto's Kinesis and invokes the handler in-process through the local
Lambda registry, with the event AWS sends (``Records[*].kinesis.data`` base64, ``eventID``
``<shardId>:<sequenceNumber>``). What it keeps of the mapping's behaviour:

- per shard, in order, one batch at a time: up to ``batch_size`` records, delivered once the batch is full
  or ``window_seconds`` after its first record was read (MaximumBatchingWindowInSeconds);
- ``ReportBatchItemFailures``: the records from the lowest reported sequence number on are delivered again
  (what came before it is done); an identifier that is not a record of the batch fails the whole batch;
- a function error: the batch split in two and each half retried (BisectBatchOnFunctionError; a split does
  not count as a retry); a batch of one is retried;
- retries after a backoff (doubling from ``backoff_seconds``), at most ``max_retry_attempts`` times, and
  never for records older than ``max_record_age_seconds``; what is given up on goes to the on-failure
  destination (an SQS queue) as AWS words it: the batch's shard and sequence range, not its records.

The function knows nothing of this: it gets the event and answers as it would in AWS.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestration.runtime.ingest import Clients
from orchestration.runtime.sfn import REGISTRY, LambdaRegistry
from orchestration.runtime.triggers import _Poller

_log = logging.getLogger("mtx.stream")


@dataclass(frozen=True)
class StreamMapping:
    """The event source mapping's settings: Terraform's defaults (modules/stream variables.tf)."""

    batch_size: int = 500
    window_seconds: float = 1.0
    max_retry_attempts: int = 10
    max_record_age_seconds: int = 3600
    bisect_on_function_error: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StreamMapping:
        """Terraform's defaults, or the batch size and the batching window the local stack is told to use, as
        Terraform's ``batch_size`` and ``maximum_batching_window_in_seconds`` (with their bounds):
        ``MTX_LOCAL_STREAM_BATCH_SIZE`` (1-10,000), ``MTX_LOCAL_STREAM_WINDOW_SECONDS`` (whole seconds, 0-300)."""
        env = os.environ if env is None else env
        size = _bounded(env, BATCH_SIZE_ENV, cls.batch_size, 1, 10_000)
        window = _bounded(env, WINDOW_ENV, int(cls.window_seconds), 0, 300)
        return cls(batch_size=size, window_seconds=float(window))


BATCH_SIZE_ENV = "MTX_LOCAL_STREAM_BATCH_SIZE"
WINDOW_ENV = "MTX_LOCAL_STREAM_WINDOW_SECONDS"


def _bounded(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (Terraform's types and bounds for the mapping's settings)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: must be a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: must be from {low} to {high}")
    return value


@dataclass
class _Batch:
    records: list[dict[str, Any]]  # GetRecords entries
    attempts: int = 0  # retries so far (a bisected half keeps its batch's count)


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    last_read: str | None = None  # sequence number of the last record read (to renew an expired iterator)
    buffer: list[dict[str, Any]] = field(default_factory=list)  # read, not yet in a batch
    buffer_since: float = 0.0
    pending: deque[_Batch] = field(default_factory=deque)  # batches to deliver again, first first
    retry_at: float = 0.0


def _seq(value: str) -> int:
    return int(value)


class StreamPoller(_Poller):
    """The event source mapping of one stream to one function (start/stop like the other local pollers)."""

    name = "mtx-stream-poller"

    def __init__(
        self,
        clients: Clients,
        stream_name: str,
        function_arn: str,
        on_failure_queue_name: str | None = None,
        mapping: StreamMapping | None = None,
        registry: LambdaRegistry = REGISTRY,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 5.0,
        refresh: float = 10.0,
        idle_poll_seconds: float = 1.0,
        puts: Callable[[str], int] | None = None,
        idle_check_seconds: float = 0.25,
        idle_read_seconds: float = 30.0,
    ) -> None:
        super().__init__()
        self.clients = clients
        self.stream_name = stream_name
        self.function_arn = function_arn
        self.on_failure_queue_name = on_failure_queue_name
        self.mapping = mapping or StreamMapping()
        self.registry = registry
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.refresh = refresh
        self.idle_poll_seconds = idle_poll_seconds
        #: records put to a stream so far, by stream ARN (the local moto's count, moto_kinesis.PUTS)
        self.puts = puts
        self.idle_check_seconds = idle_check_seconds
        self.idle_read_seconds = idle_read_seconds
        self._puts_read: int | None = None  # the count when every shard was last read to its end, all delivered
        self._read_all_at = float("-inf")
        self.skipped_rounds = 0  # rounds that read nothing: no record put since (for tests)
        self._read_short = False  # a read of this round ended early (an expired iterator)
        self._shards: dict[str, _Shard] = {}
        self._listed_at = float("-inf")
        self._stream_arn: str | None = None
        self._missing_logged = False
        # what it did (read by tests and `mtx stream`)
        self.invocations = 0
        self.function_errors = 0
        self.partial_failures = 0
        self.records_delivered = 0  # records handed to the function, retries counted
        self.records_done = 0  # records that left the mapping: settled by the function, or given up
        self.given_up: list[dict[str, Any]] = []  # the on-failure messages sent

    # ------------------------------------------------------------------ shards
    def _list_shards(self) -> bool:
        kinesis = self.clients("kinesis")
        try:
            summary = kinesis.describe_stream_summary(StreamName=self.stream_name)["StreamDescriptionSummary"]
        except kinesis.exceptions.ResourceNotFoundException:
            if not self._missing_logged:
                _log.warning("stream %s does not exist: nothing to poll", self.stream_name)
                self._missing_logged = True
            return False
        self._stream_arn = summary["StreamARN"]
        shards: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = kinesis.list_shards(NextToken=token) if token else kinesis.list_shards(StreamName=self.stream_name)
            shards.extend(page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                break
        for shard in shards:
            if shard["ShardId"] not in self._shards:
                self._shards[shard["ShardId"]] = _Shard(shard["ShardId"])
                self._puts_read = None  # a shard not read yet (a reshard copies records without a put): read
        self._listed_at = time.monotonic()
        return True

    def _read(self, shard: _Shard, limit: int) -> list[dict[str, Any]]:
        kinesis = self.clients("kinesis")
        if shard.iterator is None:
            where: dict[str, Any] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": shard.last_read}
                if shard.last_read
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            shard.iterator = kinesis.get_shard_iterator(StreamName=self.stream_name, ShardId=shard.shard_id, **where)[
                "ShardIterator"
            ]
        try:
            page = kinesis.get_records(ShardIterator=shard.iterator, Limit=limit)
        except kinesis.exceptions.ExpiredIteratorException:
            shard.iterator = None
            self._read_short = True  # this shard was not read to its end this round
            return []
        shard.iterator = page.get("NextShardIterator")
        records = list(page.get("Records", []))
        if records:
            shard.last_read = records[-1]["SequenceNumber"]
        return records

    # ------------------------------------------------------------------ rounds
    def tick(self) -> float:
        if time.monotonic() - self._listed_at >= self.refresh and not self._list_shards():
            return self.refresh
        # With the local moto's count of records put (``puts``), an idle stream is not read: the count is taken
        # before the shards are read, so a record put after it changes it and the next round reads again. Every
        # ``idle_read_seconds`` the shards are read anyway.
        puts = self.puts(self._stream_arn) if self.puts is not None and self._stream_arn else None
        if (
            puts is not None
            and puts == self._puts_read
            and self.idle()
            and time.monotonic() - self._read_all_at < self.idle_read_seconds
        ):
            self.skipped_rounds += 1
            return self.idle_check_seconds
        busy, self._read_short = False, False
        for shard in list(self._shards.values()):
            busy = self._step(shard) or busy
        if busy:
            return 0.05
        if self.idle() and not self._read_short:  # each shard read to its end (nothing read), nothing held back
            self._puts_read, self._read_all_at = puts, time.monotonic()
            if puts is not None:
                return self.idle_check_seconds
        # idle: as the mapping, poll each shard about once a second, sooner when a window or a retry is due
        now = time.monotonic()
        due = [s.buffer_since + self.mapping.window_seconds - now for s in self._shards.values() if s.buffer]
        due += [s.retry_at - now for s in self._shards.values() if s.pending]
        return min([self.idle_poll_seconds, *due])

    def _step(self, shard: _Shard) -> bool:
        """One move on a shard: a retry when one is due, else read and deliver a batch when it is ready.
        True when it did something (the next round comes sooner)."""
        now = time.monotonic()
        if shard.pending:
            if now < shard.retry_at:
                return False
            self._deliver(shard, shard.pending.popleft())
            return True
        size = self.mapping.batch_size
        read = False
        while len(shard.buffer) < size:
            records = self._read(shard, size - len(shard.buffer))
            if not records:
                break
            if not shard.buffer:
                shard.buffer_since = time.monotonic()
            shard.buffer.extend(records)
            read = True
        if not shard.buffer:
            return read
        if len(shard.buffer) >= size or time.monotonic() - shard.buffer_since >= self.mapping.window_seconds:
            batch, shard.buffer = shard.buffer[:size], shard.buffer[size:]
            shard.buffer_since = time.monotonic()
            self._deliver(shard, _Batch(batch))
            return True
        return read

    def _event(self, shard: _Shard, records: list[dict[str, Any]]) -> dict[str, Any]:
        arn = self.function_arn.split(":")  # arn:aws:lambda:<region>:<account>:function:<name>
        return {
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r["PartitionKey"],
                        "sequenceNumber": r["SequenceNumber"],
                        "data": base64.b64encode(r["Data"]).decode("ascii"),
                        "approximateArrivalTimestamp": _timestamp(r.get("ApproximateArrivalTimestamp")),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"{shard.shard_id}:{r['SequenceNumber']}",
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": f"arn:aws:iam::{arn[4]}:role/{arn[6]}",
                    "awsRegion": arn[3],
                    "eventSourceARN": self._stream_arn,
                }
                for r in records
            ]
        }

    def _deliver(self, shard: _Shard, batch: _Batch) -> None:
        records = batch.records
        oldest = _timestamp(records[0].get("ApproximateArrivalTimestamp"))
        if oldest and time.time() - oldest > self.mapping.max_record_age_seconds:
            self._give_up(shard, batch, "RecordAgeExceeded")
            return
        self.invocations += 1
        self.records_delivered += len(records)
        response = self.registry.invoke(self.function_arn, self._event(shard, records))
        if response.get("FunctionError"):
            self.function_errors += 1
            _log.warning("stream %s %s: the function failed (%s) on %d records", self.stream_name, shard.shard_id,
                         response["Payload"].get("errorType"), len(records))  # fmt: skip
            if self.mapping.bisect_on_function_error and len(records) > 1:
                half = len(records) // 2
                halves = [_Batch(records[half:], batch.attempts), _Batch(records[:half], batch.attempts)]
                shard.pending.extendleft(halves)  # the first half first
                return
            self._retry(shard, _Batch(records, batch.attempts + 1))
            return
        failures = (response.get("Payload") or {}).get("batchItemFailures") or []
        if not failures:
            self.records_done += len(records)
            return
        self.partial_failures += 1
        sequence = {r["SequenceNumber"]: i for i, r in enumerate(records)}
        try:
            start = min(sequence[str(f["itemIdentifier"])] for f in failures)
        except (KeyError, TypeError):
            start = 0  # an identifier not in the batch: the whole batch failed (as AWS reads it)
        self.records_done += start
        self._retry(shard, _Batch(records[start:], batch.attempts + 1))

    def _retry(self, shard: _Shard, batch: _Batch) -> None:
        if batch.attempts > self.mapping.max_retry_attempts:
            self._give_up(shard, batch, "RetryAttemptsExhausted")
            return
        shard.pending.appendleft(batch)
        wait = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (batch.attempts - 1))
        shard.retry_at = time.monotonic() + wait

    def _give_up(self, shard: _Shard, batch: _Batch, condition: str) -> None:
        """The on-failure destination's message (AWS's shape for a stream source): where the records are,
        not the records (they stay in the stream for its retention)."""
        records = batch.records
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()), "functionArn": self.function_arn, "condition": condition,
                "approximateInvokeCount": batch.attempts + 1,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "KinesisBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": records[0]["SequenceNumber"],
                "endSequenceNumber": records[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(records[0].get("ApproximateArrivalTimestamp")),
                "approximateArrivalOfLastRecord": _iso(records[-1].get("ApproximateArrivalTimestamp")),
                "batchSize": len(records),
                "streamArn": self._stream_arn,
            },
        }  # fmt: skip
        self.given_up.append(message)
        self.records_done += len(records)
        _log.warning("stream %s %s: %d records given up (%s)", self.stream_name, shard.shard_id, len(records),
                     condition)  # fmt: skip
        if self.on_failure_queue_name:
            try:
                sqs = self.clients("sqs")
                url = sqs.get_queue_url(QueueName=self.on_failure_queue_name)["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
            except Exception as exc:  # noqa: BLE001 - as in AWS, a destination that fails loses the description only
                _log.warning("stream %s: the on-failure queue refused the description (%s)", self.stream_name,
                             type(exc).__name__)  # fmt: skip

    # ------------------------------------------------------------------ for tests and the CLI
    def idle(self) -> bool:
        """Nothing read and not delivered, nothing waiting for a retry (records not yet read aside)."""
        return all(not s.buffer and not s.pending for s in self._shards.values())


_moto_patched = False


def patch_moto_kinesis_mappings() -> None:
    """Keep moto from invoking a stream's mapped function itself (idempotent).

    On a stack provisioned by Terraform (envs/local) moto holds the event source mapping of modules/stream,
    and moto 5.2.5 then runs the function in a Docker container, one record at a time, inside every
    PutRecord(s): no Docker here (an error logged per record), and the records would go twice. The local
    runtime plays the mapping itself (``StreamPoller``), the mapping stays in moto as Terraform made it.
    """
    global _moto_patched
    if _moto_patched:
        return
    from moto.awslambda.models import LambdaBackend

    def send_kinesis_message(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    LambdaBackend.send_kinesis_message = send_kinesis_message  # type: ignore[method-assign]
    _moto_patched = True


def _timestamp(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value) if value is not None else None


def _iso(value: Any) -> str | None:
    stamp = _timestamp(value)
    if stamp is None:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
