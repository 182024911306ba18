"""DynamoDB writes one at a time in the local moto, as AWS makes them atomic.

moto 5.2.5's DynamoDB backend changes items with no lock, and its TransactWriteItems snapshots every table it
touches and, when the transaction is cancelled (a condition failed: e.g. a real-time aggregates marker that
exists), puts the snapshot back: a write another thread made meanwhile (the local stack serves requests in
threads) is lost, and two concurrent ADDs can read the same old value. In AWS each write and each transaction
is atomic and isolated. One process-wide re-entrant lock around the backend's writes gives the local stack the
same guarantee (reads are left alone). Covered by tests/integration/test_realtime_aggregates.py (concurrent
writers add up exactly).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_patched = False
#: The backend's writing methods (the transaction and the batch call the single-item ones: the lock re-enters).
WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def patch_moto_dynamodb_writes() -> None:
    """Serialise moto's DynamoDB writes (idempotent)."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in WRITES:
        original = getattr(DynamoDBBackend, name, None)
        if original is not None:
            setattr(DynamoDBBackend, name, _locked(original))
    _patched = True


def _locked(original: Any) -> Any:
    @functools.wraps(original)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(self, *args, **kwargs)

    return locked
