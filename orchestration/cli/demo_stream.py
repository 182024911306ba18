"""The stream path of ``make run`` (``mtx demo``): part of the generated transactions through ``POST /events``
into the Kinesis stream, stored in batches by the local event source mapping and ``ingest_stream``.

The demo's other path (``POST /transactions``, one workflow execution each) keeps the rest. A transaction goes
to the stream with all its messages, when each is a JSON object (a line that is not JSON cannot be an element
of the request's array) and no two of them are sent in the same phase (a plain re-send of a first message
stays with the API path), so that each path's outcome is its own: the stream path stores every message
labelled stored as its version (versions owned by ``stream:<shard>:<sequence>``), writes nothing for a
harmless one (a re-send, a stale version) and dead-letters every other (``failed_state: IngestStream``),
exactly once. Phases are sent one after the other, each settled before the next (``mtx demo``).
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
from orchestration.cli.demo_lifecycle import versions_written
from orchestration.runtime.auth import PRODUCER
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.records import DEAD_LETTERED, LIFECYCLE_KINDS, STORED, VALID, GeneratedRecord

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
    stored: int = 0  # versions the stream wrote (rows of compliance.transaction_versions it owns)
    dead_lettered: int = 0
    letter_ids: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    #: what the generator's labels say the messages sent must become
    expected_stored: int = 0
    expected_dead_lettered: int = 0
    expected_versions: Counter[int] = field(default_factory=Counter)
    versions: Counter[int] = field(default_factory=Counter)

    @property
    def harmless(self) -> int:
        """Messages that wrote nothing and were not dead-lettered (re-sends, stale versions)."""
        return self.sent - self.stored - self.dead_lettered

    @property
    def exactly_once(self) -> bool:
        """Every message sent is stored as its version, harmless, or dead-lettered, as labelled; none twice."""
        twice = any(n > 1 for n in self.letter_ids.values())
        return (
            self.failed == 0
            and not twice
            and self.stored == self.expected_stored
            and self.versions == self.expected_versions
            and self.dead_lettered == self.expected_dead_lettered
            and self.harmless >= 0
        )


def split(records: Sequence[GeneratedRecord], every: int = 4) -> tuple[list[GeneratedRecord], list[GeneratedRecord]]:
    """(the API path's records, the stream path's): every ``every``-th transaction that may go to the stream, all
    its messages, counted apart for valid records, labelled-bad ones and each lifecycle kind (by the kind of
    the transaction's last message), so that both paths get their share of each."""
    messages: dict[str, list[GeneratedRecord]] = {}
    for record in records:
        if record.transaction_id is not None:
            messages.setdefault(record.transaction_id, []).append(record)
    eligible: Counter[str | bool] = Counter()
    to_stream: set[str] = set()
    for tx_id, mine in messages.items():
        phases = [r.phase for r in mine]
        if len(set(phases)) == len(phases) and all(_is_object(r.line) for r in mine):
            last = mine[-1].kind
            group: str | bool = last if last in LIFECYCLE_KINDS else last == VALID
            eligible[group] += 1
            if eligible[group] % every == 0:
                to_stream.add(tx_id)
    api = [r for r in records if r.transaction_id not in to_stream]
    stream = [r for r in records if r.transaction_id in to_stream]
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


def send(
    stack: LocalStack, records: Sequence[GeneratedRecord], retries: int = 5, path: StreamPath | None = None
) -> StreamPath:
    """POST /events in requests of up to 500 records, each as generated; failed records sent again. ``path``:
    add to what an earlier phase sent."""
    assert stack.api is not None
    path = path if path is not None else StreamPath()
    path.ids |= {r.transaction_id for r in records if r.transaction_id}
    path.expected_stored += sum(1 for r in records if r.outcome == STORED)
    path.expected_dead_lettered += sum(1 for r in records if r.outcome == DEAD_LETTERED)
    path.expected_versions.update(r.version or 1 for r in records if r.outcome == STORED)
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
    path.seconds += time.monotonic() - t0
    return path


def settle(stack: LocalStack, path: StreamPath, before: int, timeout: float = 600.0) -> None:
    """Wait until the local event source mapping has settled every record sent (or the timeout)."""
    poller = stack.stream_poller
    assert poller is not None
    deadline = time.monotonic() + timeout
    while poller.records_done - before < path.sent and time.monotonic() < deadline:
        time.sleep(0.2)


def account(stack: LocalStack, path: StreamPath, letters: Sequence[dlq.DeadLetter]) -> None:
    """Versions the stream stored among its ids, and its letters."""
    path.versions = versions_written(stack.dsn("compliance"), stream=True, ids=sorted(path.ids))
    path.stored = sum(path.versions.values())
    mine = [d for d in letters if d.failed_state == STREAM_STATE]
    path.dead_lettered = len(mine)
    path.letter_ids = Counter(d.transaction_id for d in mine if d.transaction_id)


def summary(path: StreamPath) -> dict[str, Any]:
    """The stream path's part of ``mtx demo --json``."""
    return {"sent": path.sent, "stored": path.stored, "harmless": path.harmless, "dead_lettered": path.dead_lettered,
            "versions": {str(v): n for v, n in sorted(path.versions.items())},
            "expected": {"stored": path.expected_stored, "dead_lettered": path.expected_dead_lettered},
            "refused": path.refused, "failed": path.failed, "requests": path.requests,
            "invariant_ok": path.exactly_once}  # fmt: skip


def rows(path: StreamPath) -> list[tuple[str, Any]]:
    """The stream path's summary lines."""
    rate = path.sent / path.seconds if path.seconds else 0.0
    return [
        ("sent", f"{path.sent}   in {path.requests} requests ({rate:,.0f} records/s)"),
        (
            "stored as a version",
            f"{path.stored}   (expected {path.expected_stored}; by version: {dict(sorted(path.versions.items()))})",
        ),
        ("harmless (duplicate or stale)", path.harmless),
        ("dead-lettered", f"{path.dead_lettered}   (expected {path.expected_dead_lettered})"),
        ("refused, failed", f"{path.refused}, {path.failed}"),
        (
            "invariant",
            f"stored + harmless + dead-lettered = sent, as labelled: {'OK' if path.exactly_once else 'BROKEN'}",
        ),
    ]
