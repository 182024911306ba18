"""moto's Kinesis shard, O(1) per record instead of O(records in the shard) (a local artefact, not AWS's).

moto 5.2.5 keeps a shard's records in an ordered dict keyed by sequence number (1, 2, 3... in put order) and

- finds the last sequence number for every record put with ``list(self.records.keys())[-1]``: a copy of
  every key, so PutRecords of n records into a shard costs O(n^2) in all (profiled with py-spy on the
  stream benchmark: 30% of the busy samples of moto's request threads were in ``get_max_sequence_number``);
- answers every GetRecords by walking the shard from its first record to the iterator's position, which
  fails with ``RuntimeError: OrderedDict mutated during iteration`` (a 500, retried by the SDK) whenever a
  PutRecords lands meanwhile (seen in the stream benchmark's log).

Here the last key is read from the dict's end and GetRecords starts at the iterator's next sequence
number, walking the consecutive keys moto makes; anything else (a gap, a position before the first record)
is left to moto's own code. Same records, same order, same sequence numbers and ``MillisBehindLatest``.
And :func:`patch_moto_kinesis_put_counts`: a count of the records put to each stream (:data:`PUTS`, by ARN),
so the local event source mapping (stream_poller.py) can tell an idle stream without reading every shard of it
over HTTP every second: that idle polling was most of an idle local stack's CPU (a per-thread CPU sample of
an idle `LocalStack`: the poller's thread and the moto request threads serving it, ~1.7 of 2.3 CPU-s a
minute).

Covered by tests/unit/test_moto_kinesis.py.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

_patched = False
_counts_patched = False

#: records put to each stream since this process started, by stream ARN (:func:`patch_moto_kinesis_put_counts`)
PUTS: Counter[str] = Counter()
_puts_lock = threading.Lock()  # PutRecords calls run in moto's request threads: no increment lost


def _newest(records: Any) -> int:
    """The last key of an ordered dict that another thread may be appending to (PutRecords)."""
    while True:
        try:
            return int(next(reversed(records)))
        except RuntimeError:  # appended to between the iterator's creation and its first step: read again
            continue


def patch_moto_kinesis_shards() -> None:
    """Idempotent."""
    global _patched
    if _patched:
        return
    from moto.kinesis.models import Shard

    original_get_records = Shard.get_records

    def get_max_sequence_number(self: Any) -> int:
        return _newest(self.records) if self.records else 0

    def get_min_sequence_number(self: Any) -> int:
        return int(next(iter(self.records))) if self.records else 0

    def get_records(self: Any, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
        records = self.records
        last = int(last_sequence_id)
        if not records:
            return [], last, 0
        newest = _newest(records)
        if last >= newest:
            return [], last, 0  # nothing after the iterator's position
        start = last + 1
        if start not in records:
            return original_get_records(self, last_sequence_id, limit)  # not moto's consecutive keys: its way
        results: list[Any] = []
        sequence = start
        while sequence in records and (limit is None or len(results) < limit):
            results.append(records[sequence])
            sequence += 1
        if not results:
            return [], last, 0
        behind = records[newest].created_at - results[-1].created_at
        return results, results[-1].sequence_number, int(behind * 1000)

    Shard.get_max_sequence_number = get_max_sequence_number  # type: ignore[method-assign]
    Shard.get_min_sequence_number = get_min_sequence_number  # type: ignore[method-assign]
    Shard.get_records = get_records  # type: ignore[method-assign]
    _patched = True


def patch_moto_kinesis_put_counts() -> None:
    """Idempotent: each record put to a stream counted in :data:`PUTS` once it is in its shard."""
    global _counts_patched
    if _counts_patched:
        return
    from moto.kinesis.models import Stream

    original_put_record = Stream.put_record

    def put_record(self: Any, *args: Any, **kwargs: Any) -> Any:
        answer = original_put_record(self, *args, **kwargs)
        with _puts_lock:
            PUTS[self.arn] += 1  # after the record is readable: a reader that saw the count can read the record
        return answer

    Stream.put_record = put_record  # type: ignore[method-assign]
    _counts_patched = True


def put_count(stream_arn: str) -> int:
    """Records put to the stream so far (:data:`PUTS`)."""
    with _puts_lock:
        return PUTS[stream_arn]
