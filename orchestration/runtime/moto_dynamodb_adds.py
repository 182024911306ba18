"""The local moto's UpdateItem for the one expression the real-time rollups send: ``ADD n1 :v1, n2 :v2, ...`` of
numbers, with no condition.

moto 5.2.5 parses an update expression into a tree (twice per item: once to check the request, once to apply it),
deep-copies the tree once or twice per item and walks it with ten validators, then builds and catches an
exception per ADD to a missing attribute: about 2 ms of CPU per item, which made the stream benchmark's local
stack spend ~195 s of emulator CPU on 100,000 records (the rollups are ~1.3 items per record of a 90-day file).
The rollups' ADDs of plain, non-reserved attribute names and number values take the short way here: the item
read, each number added with moto's own ``DynamoType`` addition (the same digits as moto writes), the item
created with only its key when it is new, as moto does. Anything else (a condition, a reserved or ``#``-named
attribute, a path, a set, a non-number value, an existing attribute that is not a number, a key attribute, a
table with a stream) goes to moto's own code, which answers it exactly as before. The parse of an expression is
also kept per expression text (moto only reads the tree: its validators work on a deep copy).

Proved by tests/unit/test_moto_patches.py: the same sequence of updates through this path and through moto's own
gives the same items, and each case above still gets moto's own answer.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ADDS = re.compile(rf"\s*ADD\s+({_NAME}\s+:[A-Za-z0-9_]+(?:\s*,\s*{_NAME}\s+:[A-Za-z0-9_]+)*)\s*", re.IGNORECASE)


@functools.cache
def _reserved() -> frozenset[str]:
    """DynamoDB's reserved words (moto's list, a list: a set here, as it is asked once per attribute)."""
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    return frozenset(ReservedKeywords.get_reserved_keywords())


def number_adds(update_expression: str | None, values: dict[str, Any] | None) -> list[tuple[str, Any]] | None:
    """``[(attribute, DynamoType number)]`` when the expression only ADDs numbers to plain attributes, else None."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = _ADDS.fullmatch(update_expression or "")
    if found is None:
        return None
    pairs = [part.split() for part in found.group(1).split(",")]
    names = [name for name, _ in pairs]
    reserved = _reserved()
    if len(set(names)) != len(names) or any(name.upper() in reserved for name in names):
        return None
    out = []
    for name, placeholder in pairs:
        value = (values or {}).get(placeholder)
        if not isinstance(value, dict) or list(value) != ["N"] or not isinstance(value["N"], str):
            return None
        out.append((name, DynamoType(value)))
    return out


def fast_adds(original: Any) -> Any:
    """moto's ``DynamoDBBackend.update_item`` with the short way for number ADDs (see the module's text)."""
    signature = inspect.signature(original)

    @functools.wraps(original)
    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        call = bound.arguments
        if not (call.get("attribute_updates") or call.get("expected") or call.get("condition_expression")):
            adds = number_adds(call.get("update_expression"), call.get("expression_attribute_values"))
            if adds is not None:
                item = _add_numbers(self, call["table_name"], call["key"], adds)
                if item is not None:
                    return item
        return original(self, *args, **kwargs)

    return update_item


def _add_numbers(backend: Any, table_name: str, key: dict[str, Any], adds: list[tuple[str, Any]]) -> Any:
    """The item after the ADDs, or None (nothing changed) when moto's own code must answer."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = backend.get_table(table_name)
    hash_attr, range_attr = table.hash_key_attr, table.range_key_attr
    if table.stream_shard is not None or hash_attr not in key or (range_attr and range_attr not in key):
        return None
    if any(name in (hash_attr, range_attr) for name, _ in adds):
        return None
    hash_value = DynamoType(key[hash_attr])
    range_value = DynamoType(key[range_attr]) if range_attr else None
    item = table.get_item(hash_value, range_value)
    if item is not None and any(name in item.attrs and not item.attrs[name].is_number() for name, _ in adds):
        return None  # moto's own error for an ADD to a value that is not a number
    if item is None:
        data = {hash_attr: {hash_value.type: hash_value.value}}
        if range_value is not None:
            data[range_attr] = {range_value.type: range_value.value}
        table.put_item(data)
        item = table.get_item(hash_value, range_value)
    zero = DynamoType({"N": "0"})
    for name, value in adds:
        item.attrs[name] = item.attrs.get(name, zero) + value
    return item


def patch_parse_once() -> None:
    """moto's ``UpdateExpressionParser.make`` kept per expression text (idempotent)."""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    make = UpdateExpressionParser.make
    if getattr(make, "__mtx_cached__", False):
        return
    parse = functools.lru_cache(maxsize=1024)(make)

    def cached(expression: str) -> Any:
        return parse(expression)

    cached.__mtx_cached__ = True  # type: ignore[attr-defined]
    UpdateExpressionParser.make = staticmethod(cached)
