"""``mtx stream FILE --rate N``: replay an NDJSON file into the Kinesis stream at N records per second.

What a game server does: one transaction per Kinesis record, partition key its ``transactionId`` (the
shards spread by transaction, and a transaction sent twice lands on the same shard, behind its first
send), ``PutRecords`` of up to 500 records. The entries a ``PutRecords`` answer reports failed
(throttled, an internal error) are sent again with a backoff; what still fails after ``max_retries`` is
counted, never dropped silently. The stream's event source mapping (the local runtime's poller, Lambda in
AWS) takes it from there: `mtx runs`-like counts are in the compliance store and the dead-letter queue.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

#: PutRecords takes at most 500 records and 5 MiB per call; a record's data is at most 1 MiB.
MAX_RECORDS_PER_PUT = 500
MAX_BYTES_PER_PUT = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024


@dataclass
class Replayed:
    sent: int = 0  # records the stream took
    failed_puts: int = 0  # records it refused after every retry (or too large for a Kinesis record)
    retried: int = 0  # entries sent again after a PutRecords answer reported them failed
    calls: int = 0
    seconds: float = 0.0


def partition_key(data: bytes) -> str:
    """The record's ``transactionId`` when it has a usable one (1 to 256 characters), else a hash of the data
    (a record that is not JSON still goes in: the handler dead-letters it with its reason)."""
    try:
        value = orjson.loads(data).get("transactionId")
    except (orjson.JSONDecodeError, AttributeError):
        value = None
    if isinstance(value, str) and 0 < len(value) <= 256:
        return value
    return hashlib.sha256(data).hexdigest()


def _puts(records: Iterable[bytes]) -> Iterator[list[bytes]]:
    """Records in PutRecords calls: at most 500 records and 5 MiB (data + partition keys, keys counted high)."""
    batch: list[bytes] = []
    size = 0
    for data in records:
        if batch and (len(batch) == MAX_RECORDS_PER_PUT or size + len(data) + 256 > MAX_BYTES_PER_PUT):
            yield batch
            batch, size = [], 0
        batch.append(data)
        size += len(data) + 256
    if batch:
        yield batch


def replay(
    kinesis: Any,
    stream_name: str,
    lines: Iterable[bytes],
    rate: float | None = None,
    max_retries: int = 5,
    backoff: float = 0.1,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Replayed:
    """Put every line (blank ones skipped) into the stream, at ``rate`` records per second (None: at once)."""
    done = Replayed()
    start = clock()
    offered = 0
    chunk = MAX_RECORDS_PER_PUT if rate is None else max(1, min(MAX_RECORDS_PER_PUT, int(rate)))

    def sendable() -> Iterator[bytes]:
        for line in lines:
            data = line.rstrip(b"\r\n")
            if not data.strip():
                continue
            if len(data) > MAX_RECORD_BYTES:
                done.failed_puts += 1  # Kinesis refuses the whole call for it: counted, not sent
                continue
            yield data

    pending: list[bytes] = []
    for batch in _puts(sendable()):
        pending.extend(batch)
        while len(pending) >= chunk:
            offered = _paced_put(kinesis, stream_name, pending[:chunk], done, rate, start, offered, max_retries,
                                 backoff, sleep, clock)  # fmt: skip
            del pending[:chunk]
    while pending:
        offered = _paced_put(kinesis, stream_name, pending[:chunk], done, rate, start, offered, max_retries,
                             backoff, sleep, clock)  # fmt: skip
        del pending[:chunk]
    done.seconds = clock() - start
    return done


def _paced_put(
    kinesis: Any, stream_name: str, records: list[bytes], done: Replayed, rate: float | None, start: float,
    offered: int, max_retries: int, backoff: float, sleep: Callable[[float], None], clock: Callable[[], float],
) -> int:  # fmt: skip
    if rate is not None:
        due = start + offered / rate  # the rate over the whole replay, not per call
        wait = due - clock()
        if wait > 0:
            sleep(wait)
    entries = [{"Data": data, "PartitionKey": partition_key(data)} for data in records]
    for attempt in range(max_retries + 1):
        done.calls += 1
        answer = kinesis.put_records(StreamName=stream_name, Records=entries)
        failed = [entry for entry, result in zip(entries, answer["Records"], strict=True) if result.get("ErrorCode")]
        done.sent += len(entries) - len(failed)
        if not failed:
            break
        if attempt == max_retries:
            done.failed_puts += len(failed)
            break
        done.retried += len(failed)
        entries = failed
        sleep(backoff * 2**attempt)
    return offered + len(records)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="NDJSON file (one transaction a line), or - for standard input")
    parser.add_argument("--rate", type=float, default=None, metavar="N",
                        help="records per second (default: as fast as PutRecords takes them)")  # fmt: skip
    parser.add_argument("--max-retries", type=int, default=5, help="times a refused entry is sent again")


def _read(source: str) -> Iterator[bytes]:
    if source == "-":
        yield from sys.stdin.buffer
        return
    with Path(source).open("rb") as f:
        yield from f


def run(args: argparse.Namespace) -> int:
    from orchestration.cli import output
    from orchestration.cli.connect import RunningStack
    from orchestration.cli.exit_codes import UsageError, partial_if
    from orchestration.runtime.resources import stream_name

    if args.rate is not None and args.rate <= 0:
        raise UsageError("--rate must be a positive number of records per second")
    stack = RunningStack(args.home)
    name = stream_name(stack.settings)
    with output.waiting(f"replaying {args.file} into the stream {name}..."):
        done = replay(stack.client("kinesis"), name, _read(args.file), rate=args.rate, max_retries=args.max_retries)
    document = {"stream": name, **asdict(done), "seconds": round(done.seconds, 2)}
    if output.wants_json(args):
        output.emit_json(document)
    else:
        output.show(output.key_values(document.items(), title="stream replay"))
    return partial_if(done.failed_puts)
