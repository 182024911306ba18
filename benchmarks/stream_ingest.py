"""The stream path: N generated transactions replayed into the local Kinesis stream and through the local
event source mapping (orchestration/runtime/stream_poller.py) to ``ingest_stream``, end to end.

Size: ``MTX_BENCH_STREAM_RECORDS`` (default 100,000; 1,000,000 is the issue's target), once per batch size of
``MTX_BENCH_STREAM_BATCH_SIZES`` (default 500, Terraform's, and 5,000), each on a stack of its own. Timed from the
first PutRecords until the mapping has settled every record put. The driver (PutRecords, the game server's
side) is charged to the driver, the handler calls to the product, the rest of the process (moto's Kinesis,
S3, SQS, DynamoDB; the poller) to the emulator.

Floor, same run, same file: parse + validate + COPY (benchmarks/floors.py).

Then a real check, not a count of what was sent: every valid transaction of the file must be in the
compliance store once and every invalid record in the dead-letter queue once, nothing both;
``stream: N records, lost L, duplicated D`` says how it went.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.calls import counted
from benchmarks.common import Report, bench_stack, env_int, metered
from benchmarks.cpu import DRIVER
from benchmarks.floors import parse_validate_copy
from benchmarks.stages import STREAM_FUNCTIONS, STREAM_GENERATORS, staged
from benchmarks.table import Floor, Row
from lambdas.ingest_stream import handler as stream_handler
from orchestration.cli import dlq
from orchestration.cli.stream_replay import replay
from orchestration.runtime.resources import stream_name
from orchestration.runtime.stack import LocalStack
from orchestration.runtime.stream_poller import StreamMapping
from orchestration.sample_data.generate import DEFAULT_END, generate

TARGET = "product CPU <= 1.5x floor CPU"


@dataclass
class Expected:
    valid_ids: set[str]
    letters: int  # invalid records: one letter each
    duplicates: int  # re-sends of an earlier valid record: neither stored again nor dead-lettered
    records: int


def write_file(path: Path, n: int, seed: int, days: int | None = None) -> Expected:
    """The file to replay: event times over the generator's 90 days (a backfill: each batch touches ~90 days and
    hundreds of rollups, the stream path's worst case) or over the last ``days`` of them (1: a day of live-ish
    traffic)."""
    valid: set[str] = set()
    kinds: Counter[str] = Counter()
    start = None if days is None else DEFAULT_END - dt.timedelta(days=days)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for r in generate(n, seed=seed, invalid_share=0.04, duplicate_share=0.01, start=start, end=DEFAULT_END):
            fh.write(r.line + "\n")
            kinds[r.kind] += 1
            if r.kind == "valid":
                assert r.transaction_id is not None
                valid.add(r.transaction_id)
    letters = n - kinds["valid"] - kinds["duplicate"]
    return Expected(valid, letters, kinds["duplicate"], n)


@dataclass
class Check:
    stored: int
    dead_lettered: int
    lost: int
    duplicated: int
    unexpected_stored: int

    def line(self, n: int) -> str:
        return f"stream: {n} records, lost {self.lost}, duplicated {self.duplicated}"


def dead_letter_ids(stack: LocalStack) -> list[str | None]:
    """The transaction id of every message in the dead-letter queue (None when a letter has none).

    Read from moto's queue itself (the local stack's moto server runs in this process), in one pass: moto
    5.2.5's ReceiveMessage checks every message of the queue on each call, so reading 40,000 letters through
    the API ten at a time costs O(n^2) (minutes at 1M records). Same messages; the API is the fallback."""
    from moto.sqs.models import sqs_backends

    url = stack.dead_letter_queue_url
    account, name = url.split("/")[-2:]
    queue = sqs_backends[account][stack.require_settings().region].queues.get(name)
    if queue is None:
        letters = dlq.receive_all(stack.client, url, visibility_timeout=3600, limit=10**7)
        return [d.transaction_id for d in letters]
    with queue._messages_lock:
        bodies = [m.body for m in queue._messages]
    return [json.loads(body).get("transaction_id") for body in bodies]


def check(stack: LocalStack, expected: Expected) -> Check:
    """Compare the compliance store and the dead-letter queue with the file (a fresh stack: nothing else)."""
    with psycopg.connect(stack.dsn("compliance")) as conn:
        stored_ids = [r[0] for r in conn.execute("select transaction_id from compliance.transactions")]
    stored = set(stored_ids)
    letters = dead_letter_ids(stack)
    lettered_ids = Counter(i for i in letters if i)
    both = sum(1 for i in lettered_ids if i in stored)
    lost = len(expected.valid_ids - stored) + max(0, expected.letters - len(letters))
    duplicated = (len(stored_ids) - len(stored)) + max(0, len(letters) - expected.letters) + both
    return Check(len(stored), len(letters), lost, duplicated, len(stored - expected.valid_ids))


def settle(stack: LocalStack, sent: int, timeout: float) -> None:
    poller = stack.stream_poller
    assert poller is not None
    deadline = time.monotonic() + timeout
    while poller.records_done < sent or not poller.idle():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the mapping settled {poller.records_done} of {sent} records in {timeout:.0f} s")
        time.sleep(0.2)


def batch_sizes() -> list[int]:
    """``MTX_BENCH_STREAM_BATCH_SIZES`` (default ``500,5000``): the mapping's batch size of each run, Terraform's
    default first. A batch's AWS calls cost about the same whatever its size, so the product's CPU per record
    falls as batches grow (docs/benchmarks.md)."""
    raw = os.environ.get("MTX_BENCH_STREAM_BATCH_SIZES") or "500,5000"
    try:
        sizes = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise ValueError("MTX_BENCH_STREAM_BATCH_SIZES: whole numbers from 1 to 10,000, comma-separated") from None
    if not sizes or not all(1 <= x <= 10_000 for x in sizes) or len(set(sizes)) < len(sizes):
        raise ValueError("MTX_BENCH_STREAM_BATCH_SIZES: whole numbers from 1 to 10,000, comma-separated, each once")
    return sizes


def mapping_for(batch_size: int) -> StreamMapping:
    """Terraform's mapping with this batch size, and a batching window long enough to fill it at a shard's
    1,000 records/s (1 s for 500, 5 s for 5,000)."""
    return StreamMapping(batch_size=batch_size, window_seconds=max(1, math.ceil(batch_size / 1000)))


def run(report: Report, n: int | None = None) -> None:
    n = n or env_int("MTX_BENCH_STREAM_RECORDS", 100_000)
    for size in batch_sizes():
        run_one(report, n, size)


def run_one(report: Report, n: int, batch_size: int) -> None:
    days = int(os.environ["MTX_BENCH_STREAM_DAYS"]) if os.environ.get("MTX_BENCH_STREAM_DAYS") else None
    mapping = mapping_for(batch_size)
    with bench_stack(time_scale=1.0, stream_mapping=mapping) as stack:
        path = stack.home / "stream.ndjson"
        expected = write_file(path, n, seed=23, days=days)
        meter = metered(stack)
        floor, floor_rows = parse_validate_copy(meter, stack.pg.dsn("compliance"), path)
        poller = stack.stream_poller
        assert poller is not None
        kinesis = stack.client("kinesis")
        name = stream_name(stack.require_settings())
        # the handler's CPU by stage (handlers run in this process unless MTX_LOCAL_PROCESSES is set)
        with (
            staged(stream_handler, STREAM_FUNCTIONS, STREAM_GENERATORS) as stages,
            counted(meter) as calls,
            meter.phase() as split,
        ):
            with meter.role(DRIVER), path.open("rb") as fh:
                put = replay(kinesis, name, fh)
            settle(stack, put.sent, timeout=max(600.0, n / 50))
        result = check(stack, expected)
        data: dict[str, Any] = {
            "records": n,
            "batch_size": mapping.batch_size,
            "window_seconds": mapping.window_seconds,
            "file_mib": round(path.stat().st_size / 2**20, 1),
            "put": {
                "sent": put.sent,
                "failed_puts": put.failed_puts,
                "retried": put.retried,
                "calls": put.calls,
                "seconds": round(put.seconds, 1),
            },
            "mapping": {
                "invocations": poller.invocations,
                "function_errors": poller.function_errors,
                "partial_failures": poller.partial_failures,
                "records_delivered": poller.records_delivered,
                "given_up": len(poller.given_up),
            },
            "records_per_s": round(n / split.wall_s),
            "floor_rows": floor_rows,
            "expected": {
                "stored": len(expected.valid_ids),
                "dead_lettered": expected.letters,
                "duplicates": expected.duplicates,
            },
            "found": vars(result),
            "product_aws_calls": calls.document(),
        }
        report.add(f"stream ingest (issue 23), batches of {mapping.batch_size:,}", data)
        spread = "" if days is None else f", events over {days} day{'s' if days > 1 else ''}"
        what = f"stream path, {n:,} records{spread}, batches of {mapping.batch_size:,}"
        report.row(Row(what, split, [Floor("parse + validate + COPY", floor)], TARGET))
        report.note(result.line(n))
        if stages.seconds:
            report.note(stages.line(f"stream handler by stage, {what}", split.product_cpu_s, n))
        if calls.total_calls and not split.children_cpu_s:  # calls made in worker processes are not seen
            report.note(calls.line(f"stream handler's AWS calls, {what}", split.product_cpu_s, floor.product_cpu_s))
