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

A second short way takes the status writes of the workflows (MarkCompleted, MarkFailed, the analytics jobs' marks,
the handlers' ``SET a = :x, #b = :y``): ``SET`` of attributes to plain values and ``REMOVE`` of attributes, with no
condition. Measured on the per-transaction path, moto spent ~4 ms of CPU on MarkCompleted's UpdateItem, ~3 ms of
it in its ten validators' walks of the expression's tree and a deep copy of the item kept for a stream the table
does not have. Here each value is set (string, boolean or null values, as ``DynamoType``, as moto's SET stores
them) and each removed attribute dropped, the item created with only its key when it is new. Anything else (a
condition, a path or a nested name, a reserved name not given as ``#name``, a ``#name`` or ``:value`` that is not
defined, an attribute named twice, a key attribute of the table or of an index, a number, set, list or map value, a
table with a stream) goes to moto's own code. The clauses run in the order written, as moto runs them.
tests/unit/test_moto_dynamodb_adds.py compares the two ways.
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
from collections import OrderedDict
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


_TARGET = rf"(?:{_NAME}|#[A-Za-z0-9_]+)"
_SET_ONE = rf"{_TARGET}\s*=\s*:[A-Za-z0-9_]+"
_SET = rf"SET\s+(?P<{{0}}>{_SET_ONE}(?:\s*,\s*{_SET_ONE})*)"
_REMOVE = rf"REMOVE\s+(?P<{{0}}>{_TARGET}(?:\s*,\s*{_TARGET})*)"
_SET_THEN_REMOVE = _SET.format("set1") + r"(?:\s+" + _REMOVE.format("remove1") + ")?"
_REMOVE_THEN_SET = _REMOVE.format("remove2") + r"(?:\s+" + _SET.format("set2") + ")?"
_SETS = re.compile(rf"\s*(?:{_SET_THEN_REMOVE}|{_REMOVE_THEN_SET})\s*", re.IGNORECASE)
#: the value types the short SET takes (no number: moto checks its digits; no set, list or map: moto checks those)
_PLAIN_TYPES = {"S": str, "BOOL": bool, "NULL": bool}


def plain_sets(
    update_expression: str | None, names: dict[str, Any] | None, values: dict[str, Any] | None
) -> tuple[list[tuple[str, Any]], list[str], bool] | None:
    """``([(attribute, DynamoType)], [removed attribute], REMOVE written first)`` for ``SET a = :x, ... REMOVE b,
    ...`` of plain values to plain or ``#``-named attributes, each named once; else None (moto's own code)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = _SETS.fullmatch(update_expression or "")
    if found is None:
        return None
    set_part = found.group("set1") or found.group("set2") or ""
    remove_part = found.group("remove1") or found.group("remove2") or ""
    reserved = _reserved()

    def resolved(target: str) -> str | None:
        if target.startswith("#"):
            name = (names or {}).get(target)
            return name if isinstance(name, str) and name else None
        return None if target.upper() in reserved else target

    sets: list[tuple[str, Any]] = []
    for one in filter(None, (part.strip() for part in set_part.split(","))):
        target, placeholder = (side.strip() for side in one.split("=", 1))
        name, value = resolved(target), (values or {}).get(placeholder)
        if name is None or not isinstance(value, dict) or len(value) != 1:
            return None
        ((kind, raw),) = value.items()
        if kind not in _PLAIN_TYPES or not isinstance(raw, _PLAIN_TYPES[kind]) or (kind == "NULL" and raw is not True):
            return None
        sets.append((name, DynamoType({kind: raw})))
    removes: list[str] = []
    for target in filter(None, (part.strip() for part in remove_part.split(","))):
        name = resolved(target)
        if name is None:
            return None
        removes.append(name)
    named = [name for name, _ in sets] + removes
    if len(set(named)) != len(named):
        return None
    return sets, removes, bool(found.group("remove2"))  # REMOVE first, when written first (moto's order)


def fast_adds(original: Any) -> Any:
    """moto's ``DynamoDBBackend.update_item`` with the short ways for number ADDs and plain SET/REMOVE (see the
    module's text)."""
    signature = inspect.signature(original)

    @functools.wraps(original)
    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        call = bound.arguments
        if not (call.get("attribute_updates") or call.get("expected") or call.get("condition_expression")):
            expression, values = call.get("update_expression"), call.get("expression_attribute_values")
            adds = number_adds(expression, values)
            if adds is not None:
                item = _add_numbers(self, call["table_name"], call["key"], adds)
                if item is not None:
                    return item
            plain = plain_sets(expression, call.get("expression_attribute_names"), values)
            if plain is not None:
                item = _set_plain(self, call["table_name"], call["key"], *plain)
                if item is not None:
                    return item
        return original(self, *args, **kwargs)

    return update_item


def _item_for_update(backend: Any, table_name: str, key: dict[str, Any], targets: list[str]) -> Any:
    """The item an update may change in place (created with only its key when new, as moto does), or None when
    moto's own code must answer (a table with a stream, a key not given whole, a key attribute targeted)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = backend.get_table(table_name)
    hash_attr, range_attr = table.hash_key_attr, table.range_key_attr
    if table.stream_shard is not None or hash_attr not in key or (range_attr and range_attr not in key):
        return None
    if set(targets) & set(table.attribute_keys):  # a key of the table or of an index: moto checks its type
        return None
    hash_value = DynamoType(key[hash_attr])
    range_value = DynamoType(key[range_attr]) if range_attr else None
    item = table.get_item(hash_value, range_value)
    if item is None:
        data = {hash_attr: {hash_value.type: hash_value.value}}
        if range_value is not None:
            data[range_attr] = {range_value.type: range_value.value}
        table.put_item(data)
        item = table.get_item(hash_value, range_value)
    return item


def _set_plain(
    backend: Any,
    table_name: str,
    key: dict[str, Any],
    sets: list[tuple[str, Any]],
    removes: list[str],
    remove_first: bool,
) -> Any:
    """The item after the SETs and REMOVEs, in the order the expression writes its clauses (as moto runs them:
    the same item, or the same partial change when the size limit stops it), or None when moto's own code must
    answer."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge, ItemSizeToUpdateTooLarge

    item = _item_for_update(backend, table_name, key, [name for name, _ in sets] + removes)
    if item is None:
        return None

    def remove() -> None:
        for name in removes:
            item.attrs.pop(name, None)

    if remove_first:
        remove()
    try:
        for name, value in sets:
            item.attrs[name] = value
    except ItemSizeTooLarge as exc:
        raise ItemSizeToUpdateTooLarge() from exc  # moto's answer for an update over the limit
    if not remove_first:
        remove()
    return item


def _add_numbers(backend: Any, table_name: str, key: dict[str, Any], adds: list[tuple[str, Any]]) -> Any:
    """The item after the ADDs, or None (nothing changed) when moto's own code must answer."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    item = _item_for_update(backend, table_name, key, [name for name, _ in adds])
    if item is None or any(name in item.attrs and not item.attrs[name].is_number() for name, _ in adds):
        return None  # moto's own error for an ADD to a value that is not a number (a new item has none)
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
    _condition_parsed_once()


#: condition expressions parsed lately, by (expression, names, values): moto parses a request's condition twice
#: (its request layer, to check the names and values used; its backend, to evaluate it)
_CONDITIONS: OrderedDict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = OrderedDict()
_CONDITIONS_KEPT = 256
_conditions_lock = threading.Lock()


def _condition_parsed_once() -> None:
    """moto's ``ConditionExpressionParser.parse`` kept per (expression, names, values): the same condition tree
    (moto only reads it: each node holds its operands) and the same names and values found. Measured on the
    per-transaction path: ~0.5 ms a parse, two parses per conditional write (RegisterTransaction's PutItem)."""
    import json

    from moto.dynamodb.comparisons import ConditionExpressionParser

    parse = ConditionExpressionParser.parse
    if getattr(parse, "__mtx_cached__", False):
        return

    def cached(self: Any) -> Any:
        if not self.condition_expression:
            return parse(self)
        try:
            key = (self.condition_expression, json.dumps(self.expression_attribute_names, sort_keys=True),
                   json.dumps(self.expression_attribute_values, sort_keys=True))  # fmt: skip
        except (TypeError, ValueError):  # not JSON: not kept
            return parse(self)
        with _conditions_lock:
            found = _CONDITIONS.get(key)
            if found is not None:
                _CONDITIONS.move_to_end(key)
        if found is None:
            # parsed from copies of the names and values: the kept tree shares no list with the request (a stored
            # item may hold the request's set values, and a later ADD changes those in place)
            fresh = ConditionExpressionParser(self.condition_expression, json.loads(key[1]), json.loads(key[2]))
            found = (parse(fresh), fresh.expr_attr_names_found, fresh.expr_attr_values_found)  # raises if invalid
            with _conditions_lock:
                _CONDITIONS[key] = found
                while len(_CONDITIONS) > _CONDITIONS_KEPT:
                    _CONDITIONS.popitem(last=False)
        op, names, values = found
        self.expr_attr_names_found.extend(names)
        self.expr_attr_values_found.extend(values)
        return op

    cached.__mtx_cached__ = True  # type: ignore[attr-defined]
    ConditionExpressionParser.parse = cached  # type: ignore[method-assign]
