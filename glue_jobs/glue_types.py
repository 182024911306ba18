"""Glue Data Catalog types inferred from JSON values, the way a Glue crawler's JSON classifier does.

A type is an atom (``"string"``, ``"bigint"``, ``"double"``, ``"boolean"``, or any other
catalog name such as ``"decimal(18,3)"`` read back from a table), a :class:`Struct` or an
:class:`Array`. ``render`` gives the catalog string (``struct<a:string,b:array<bigint>>``)
and ``parse`` reads one back, so that columns already in the catalog can be merged with
what a new crawl sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Union

STRING = "string"
BIGINT = "bigint"
DOUBLE = "double"
BOOLEAN = "boolean"
_NUMERIC = {BIGINT, DOUBLE}


@dataclass(frozen=True)
class Struct:
    fields: tuple[tuple[str, GlueType], ...]

    def get(self, name: str) -> GlueType | None:
        wanted = name.lower()
        return next((t for n, t in self.fields if n.lower() == wanted), None)


@dataclass(frozen=True)
class Array:
    element: GlueType


GlueType = Union[str, Struct, Array]  # noqa: UP007 - a runtime alias used before the classes exist


def infer(value: Any) -> GlueType | None:
    """The catalog type of one JSON value; None for JSON null (no information)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return BIGINT
    if isinstance(value, float | Decimal):
        return DOUBLE
    if isinstance(value, str):
        return STRING
    if isinstance(value, dict):
        fields: list[tuple[str, GlueType]] = []
        for key, item in value.items():
            inferred = infer(item)
            fields.append((str(key), STRING if inferred is None else inferred))
        return Struct(tuple(fields))
    if isinstance(value, list):
        element: GlueType | None = None
        for item in value:
            element = merge(element, infer(item))
        return Array(STRING if element is None else element)
    return STRING


def merge(a: GlueType | None, b: GlueType | None) -> GlueType | None:
    """The narrowest type that holds both (Glue's rules: bigint+double=double, conflicts=string)."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    if isinstance(a, str) and isinstance(b, str) and {a, b} <= _NUMERIC:
        return DOUBLE
    if isinstance(a, Struct) and isinstance(b, Struct):
        merged, _, _ = merge_columns(dict(a.fields), dict(b.fields))
        return Struct(tuple(merged.items()))
    if isinstance(a, Array) and isinstance(b, Array):
        element = merge(a.element, b.element)
        return Array(STRING if element is None else element)
    return STRING


def merge_columns(
    existing: Mapping[str, GlueType], seen: Mapping[str, GlueType]
) -> tuple[dict[str, GlueType], list[str], list[str]]:
    """Merge newly seen columns into existing ones (matched case-insensitively, order kept).

    Returns (merged, added names, changed descriptions ``"name: old -> new"``).
    """
    merged: dict[str, GlueType] = dict(existing)
    by_lower = {name.lower(): name for name in merged}
    added: list[str] = []
    changed: list[str] = []
    for name, new_type in seen.items():
        current_name = by_lower.get(name.lower())
        if current_name is None:
            merged[name] = new_type
            by_lower[name.lower()] = name
            added.append(name)
            continue
        old_type = merged[current_name]
        widened = merge(old_type, new_type)
        if widened is not None and widened != old_type:
            merged[current_name] = widened
            changed.append(f"{current_name}: {render(old_type)} -> {render(widened)}")
    return merged, added, changed


def infer_columns(records: Iterable[Mapping[str, Any]]) -> dict[str, GlueType]:
    """Columns of a table holding these JSON objects (top-level keys, merged types)."""
    columns: dict[str, GlueType | None] = {}
    for record in records:
        for key, value in record.items():
            columns[key] = merge(columns.get(key), infer(value))
    return {name: STRING if t is None else t for name, t in columns.items()}


def render(t: GlueType) -> str:
    if isinstance(t, Struct):
        return "struct<" + ",".join(f"{name}:{render(ft)}" for name, ft in t.fields) + ">"
    if isinstance(t, Array):
        return f"array<{render(t.element)}>"
    return t


def lower_names(t: GlueType) -> GlueType:
    """Hive/Athena column and field names are case-insensitive: the catalog stores them lower case."""
    if isinstance(t, Struct):
        return Struct(tuple((name.lower(), lower_names(ft)) for name, ft in t.fields))
    if isinstance(t, Array):
        return Array(lower_names(t.element))
    return t


_TOKEN = re.compile(r"\s*(struct<|array<|>|,|:|[^<>,:]+)")


def parse(text: str) -> GlueType:
    """Read a catalog type string back (the inverse of :func:`render`)."""
    tokens = [m.group(1).strip() for m in _TOKEN.finditer(text) if m.group(1).strip()]
    pos = 0

    def take(expected: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"unexpected end of type {text!r}")
        token = tokens[pos]
        if expected is not None and token != expected:
            raise ValueError(f"expected {expected!r} at {token!r} in type {text!r}")
        pos += 1
        return token

    def read_type() -> GlueType:
        word = take()
        if word == "struct<":
            fields: list[tuple[str, GlueType]] = []
            while tokens[pos] != ">":
                name = take()
                take(":")
                fields.append((name, read_type()))
                if tokens[pos] == ",":
                    take(",")
            take(">")
            return Struct(tuple(fields))
        if word == "array<":
            element = read_type()
            take(">")
            return Array(element)
        # decimal(18,3): the tokenizer splits on the comma; glue it back together
        if word.endswith(tuple("0123456789")) and "(" in word and ")" not in word:
            take(",")
            word = f"{word},{take()}"
        return word

    result = read_type()
    if pos != len(tokens):
        raise ValueError(f"trailing text in type {text!r}")
    return result


def leaf_paths(columns: Mapping[str, GlueType], prefix: str = "") -> dict[str, str]:
    """Dotted path -> atom or container kind, for every field at any depth (lower-cased paths)."""
    out: dict[str, str] = {}
    for name, t in columns.items():
        path = f"{prefix}{name}".lower()
        if isinstance(t, Struct):
            out[path] = "struct"
            out.update(leaf_paths(dict(t.fields), prefix=f"{path}."))
        elif isinstance(t, Array):
            out[path] = "array"
        else:
            out[path] = t
    return out
