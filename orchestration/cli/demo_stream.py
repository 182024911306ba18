"""The stream path of ``make run`` (``mtx demo``): part of the generated transactions through ``POST /events``
into the Kinesis stream, stored in batches by the local event source mapping and ``ingest_stream``.

The demo's other path (``POST /transactions``, one workflow execution each) keeps the rest. A record goes
to the stream when it is a JSON object (a line that is not JSON cannot be an element of the request's
array) and its ``transactionId`` is sent once in the whole demo, so that each path's outcome is its own:
the stream path stores every valid record it sent (rows owned by ``stream:<shard>:<sequence>``) and
dead-letters every invalid one (``failed_state: IngestStream``), exactly once.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestration.cli import dlq
from orchestration.runtime.auth import PRODUCER
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.records import VALID, GeneratedRecord

#: The stream's letters (lambdas/ingest_stream FAILED_STATE).
STREAM_STATE = "IngestStream"
#: Records per POST /events (the route takes at most 500).
PER_REQUEST = 500


@dataclass
class StreamPath:
    """What the stream path sent and what became of it."""

    sent: int = 0  # records the stream took (accepted)
    refused: int = 0  # refused at the door, by name (none expected from the generator)
    failed: int = 0  # PutRecords failures still failing after the retries
    requests: int = 0
    ids: set[str] = field(default_factory=set)
    stored: int = 0
    dead_lettered: int = 0
    letter_ids: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def exactly_once(self) -> bool:
        """Every record sent is stored or dead-lettered, none twice, none lost."""
        twice = any(n > 1 for n in self.letter_ids.values())
        return self.failed == 0 and self.stored + self.dead_lettered == self.sent and not twice


def split(records: Sequence[GeneratedRecord], every: int = 4) -> tuple[list[GeneratedRecord], list[GeneratedRecord]]:
    """(the API path's records, the stream path's): every ``every``-th record that may go to the stream, counted
    apart for valid and labelled-bad records, so that both paths get their share of each."""
    seen = Counter(r.transaction_id for r in records if r.transaction_id)
    eligible: Counter[bool] = Counter()
    api: list[GeneratedRecord] = []
    stream: list[GeneratedRecord] = []
    for record in records:
        alone = record.transaction_id is not None and seen[record.transaction_id] == 1
        if alone and _is_object(record.line):
            eligible[record.kind == VALID] += 1
            if eligible[record.kind == VALID] % every == 0:
                stream.append(record)
                continue
        api.append(record)
    return api, stream


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _post(url: str, headers: dict[str, str], lines: list[str]) -> dict[str, Any]:
    body = ('{"records": [' + ",".join(lines) + "]}").encode()
    request = urllib.request.Request(  # noqa: S310 - the local API
        f"{url}/events", data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - the local API
        return dict(json.loads(resp.read()))


def send(stack: LocalStack, records: Sequence[GeneratedRecord], retries: int = 5) -> StreamPath:
    """POST /events in requests of up to 500 records, each as generated; failed records sent again."""
    assert stack.api is not None
    path = StreamPath(ids={r.transaction_id for r in records if r.transaction_id})
    headers = stack.api_headers(PRODUCER)
    t0 = time.monotonic()
    for start in range(0, len(records), PER_REQUEST):
        lines = [r.line for r in records[start : start + PER_REQUEST]]
        for attempt in range(retries + 1):
            path.requests += 1
            try:
                answer = _post(stack.api.url, headers, lines)
            except urllib.error.HTTPError as exc:
                if exc.code != 503 or attempt == retries:
                    raise
                time.sleep(0.2 * 2**attempt)
                continue
            path.sent += answer["accepted"]
            path.refused += answer["refused"]
            failed = [lines[r["index"]] for r in answer["records"] if r["status"] == "failed"]
            if not failed:
                break
            if attempt == retries:
                path.failed += len(failed)
                break
            lines = failed
            time.sleep(0.2 * 2**attempt)
    path.seconds = time.monotonic() - t0
    return path


def settle(stack: LocalStack, path: StreamPath, before: int, timeout: float = 600.0) -> None:
    """Wait until the local event source mapping has settled every record sent (or the timeout)."""
    poller = stack.stream_poller
    assert poller is not None
    deadline = time.monotonic() + timeout
    while poller.records_done - before < path.sent and time.monotonic() < deadline:
        time.sleep(0.2)


def account(stack: LocalStack, path: StreamPath, letters: Sequence[dlq.DeadLetter]) -> None:
    """Rows the stream stored among its ids, and its letters."""
    import psycopg

    with psycopg.connect(stack.dsn("compliance")) as conn:
        row = conn.execute(
            "select count(*) from compliance.transactions where execution_id like 'stream:%%'"
            " and transaction_id = any(%s)",
            (sorted(path.ids),),
        ).fetchone()
    path.stored = int(row[0]) if row else 0
    mine = [d for d in letters if d.failed_state == STREAM_STATE]
    path.dead_lettered = len(mine)
    path.letter_ids = Counter(d.transaction_id for d in mine if d.transaction_id)


def summary(path: StreamPath) -> dict[str, Any]:
    """The stream path's part of ``mtx demo --json``."""
    return {"sent": path.sent, "stored": path.stored, "dead_lettered": path.dead_lettered, "refused": path.refused,
            "failed": path.failed, "requests": path.requests, "invariant_ok": path.exactly_once}  # fmt: skip


def rows(path: StreamPath) -> list[tuple[str, Any]]:
    """The stream path's summary lines."""
    rate = path.sent / path.seconds if path.seconds else 0.0
    return [
        ("sent", f"{path.sent}   in {path.requests} requests ({rate:,.0f} records/s)"),
        ("stored", path.stored),
        ("dead-lettered", path.dead_lettered),
        ("refused, failed", f"{path.refused}, {path.failed}"),
        ("invariant", f"stored + dead-lettered = sent: {'OK' if path.exactly_once else 'BROKEN'}"),
    ]
