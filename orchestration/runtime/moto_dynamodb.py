"""DynamoDB writes one at a time in the local moto, as AWS makes them atomic.

moto 5.2.5's DynamoDB backend changes items with no lock, and its TransactWriteItems snapshots every table it
touches and, when the transaction is cancelled (a condition failed: e.g. a real-time aggregates marker that
exists), puts the snapshot back: a write another thread made meanwhile (the local stack serves requests in
threads) is lost, and two concurrent ADDs can read the same old value. In AWS each write and each transaction
is atomic and isolated. One process-wide re-entrant lock around the backend's writes gives the local stack the
same guarantee. Covered by tests/integration/test_realtime_aggregates.py (concurrent writers add up exactly).
Scan takes the lock too: it iterates the table's dicts lazily, and a put of a new key meanwhile failed it
with "dictionary changed size during iteration" (a 500 the SDK retried; seen once in a 20,000-execution run,
most likely the sweeper's Scan of the execution status table, which the executions write). Single-item reads
are left alone. tests/unit/test_moto_dynamodb_scan.py.

moto's TransactWriteItems also deep-copies the WHOLE table once per item of the transaction (its snapshot for a
rollback, taken in the loop over the items): a 100-item transaction on a table of n items copies 100 x n items,
and a file of 3,000 records (~40 transactions of the real-time rollups) made the local stack's process grow by
~50 MB a second and the CI machine kill it. Under the lock the snapshot needs only the items the transaction
touches: ``_transact`` saves those (a copy each), lets moto's own snapshot be the table itself (no copy) and, when
the transaction is cancelled, puts the saved items back.

moto's ``Item`` checks the 400 KB item size limit once for every attribute it sets, each time summing the sizes
of all the attributes set so far: building an item of n attributes cost O(n^2) size walks (nested maps walked in
full each time), ~4% of the local stack's CPU on the per-transaction path, on every PutItem and every item a
query or a transaction builds. ``_item_sized_once`` sets the attributes, then checks their total once: the
same limit and error (the total only grows as attributes are added, so the last check was the one that
counted), in O(n). Later single-attribute writes (UpdateItem) keep moto's own check.
tests/unit/test_moto_dynamodb_items.py.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_patched = False
#: Set while ``_transact`` runs moto's transaction: its whole-table snapshot is the table itself (no copy).
_ITEMS_SAVED = contextvars.ContextVar("mtx_transact_items_saved", default=False)
#: The backend's writing methods (the transaction and the batch call the single-item ones: the lock re-enters).
WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
#: The backend's reads that iterate a table's items lazily (Query lists its partition first: not seen failing).
ITERATING_READS = ("scan",)


def patch_moto_dynamodb_writes() -> None:
    """Serialise moto's DynamoDB writes (idempotent)."""
    global _patched
    if _patched:
        return
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend

    from orchestration.runtime.moto_dynamodb_adds import fast_adds, patch_parse_once
    from orchestration.runtime.moto_dynamodb_partiql import batch_inserts

    for name in WRITES:
        original = getattr(DynamoDBBackend, name, None)
        if original is not None:
            # the rollups' number ADDs take a short way (moto_dynamodb_adds.py), under the same lock
            setattr(DynamoDBBackend, name, _locked(fast_adds(original) if name == "update_item" else original))
    for name in ITERATING_READS:
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    patch_parse_once()
    _item_sized_once()
    # the players' claims: parameterised INSERTs, DuplicateItem when the key exists (moto_dynamodb_partiql.py)
    DynamoDBBackend.batch_execute_statement = batch_inserts(DynamoDBBackend.batch_execute_statement, _LOCK)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _transact(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    backend_module.copy = _TableSnapshots()  # type: ignore[assignment]  # the module's `copy.deepcopy(table)`
    _patched = True


#: moto's item size limit (its LimitedSizeDict: AWS says 400 KB, moto measured the real limit as 409-410 KB)
ITEM_SIZE_LIMIT = 405000


def _item_sized_once() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        sized = LimitedSizeDict()
        for key, value in attrs.items():
            dict.__setitem__(sized, key, DynamoType(value))  # moto's own check, once below
        if sum(bytesize(str(key)) + value.size() for key, value in sized.items()) > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = sized

    Item.__init__ = __init__  # type: ignore[method-assign]


class _TableSnapshots:
    """moto's backend module's ``copy``: a table is not copied while ``_transact`` saved the items it touches."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if _ITEMS_SAVED.get() and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _transact(original: Any) -> Any:
    @functools.wraps(original)
    def transact(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            saved = []
            for entry in transact_items[:100]:
                _, op = next(iter(entry.items()))
                table = self.tables.get(op.get("TableName"))
                if table is None:
                    continue
                key = op.get("Key") or {a: op["Item"][a] for a in (table.hash_key_attr, table.range_key_attr)
                                        if a and a in op.get("Item", {})}  # fmt: skip
                try:
                    hash_key, range_key = self.get_keys_value(table, key)
                    item = table.get_item(hash_key, range_key)
                except Exception:  # noqa: BLE001, S112 - moto refuses the key itself below, with its own error
                    continue
                saved.append((table, hash_key, range_key, copy.deepcopy(item) if item is not None else None))
            token = _ITEMS_SAVED.set(True)
            try:
                return original(self, transact_items, *args, **kwargs)
            except Exception:
                for table, hash_key, range_key, item in reversed(saved):
                    _put_back(table, hash_key, range_key, item)
                raise
            finally:
                _ITEMS_SAVED.reset(token)

    return transact


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is not None:
        if item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item


def _locked(original: Any) -> Any:
    @functools.wraps(original)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(self, *args, **kwargs)

    return locked
