"""Turn raw input (bytes, text or a parsed dict) into a Transaction, or a clear error.

Every error names the field (a dotted wire path such as ``item_purchased.price.amount``, ``$`` for the
whole record), the stable code of the rule it breaks (:mod:`contracts.acceptance`) and a sentence; never
the value. Text is read by :func:`parse_json`, the one JSON reader of the contract: UTF-8 without a BOM,
at most ``MAX_TRANSACTION_BYTES``, nesting checked before parsing, no duplicate keys, exact decimals.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from contracts.acceptance import (
    IDENTIFIER,
    MAX_DEPTH,
    MAX_ID_CHARS,
    MAX_NUMBER_CHARS,
    MAX_TRANSACTION_BYTES,
    RULE_BY_CODE,
    Window,
    shown_key,
)
from contracts.errors import FieldError, InvalidTransaction
from contracts.transaction import NonStandardNumber, OversizeNumber, Transaction

_NON_STANDARD = NonStandardNumber()
_OVERSIZE = OversizeNumber()
#: A JSON string (possibly unterminated at the end: a malformed text is refused by the parser anyway).
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)

#: pydantic's own error types -> the contract's rule codes (the contract's validators raise the codes).
_PYDANTIC_RULES = {
    "missing": "field.required",
    "extra_forbidden": "field.unknown",
    "string_unicode": "text.unicode",
    "enum": "enum.value",
    "finite_number": "amount.finite",
}


def _refused(rule: str, reason: str, field: str = "$") -> InvalidTransaction:
    return InvalidTransaction([FieldError(field, rule, reason)])


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [
        shown_key(p) if isinstance(p, str) else str(p)
        for p in loc
        if not (isinstance(p, str) and p.startswith("function-"))
    ]
    return ".".join(parts) or "$"


def _rule(kind: str) -> str:
    if kind in RULE_BY_CODE:
        return kind
    if kind in _PYDANTIC_RULES:
        return _PYDANTIC_RULES[kind]
    if kind.startswith(("datetime", "date", "time", "timezone")):
        return "timestamp.format"
    return "field.type"


def _reason(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of the transaction contract"
    return str(err["msg"]).removeprefix("Value error, ")


class JsonRefused(ValueError):
    """Bytes or text that the pipeline's JSON reading rules refuse (size, encoding, BOM, syntax, depth,
    duplicate keys), with one FieldError per problem. ``data``: what was parsed, when it was."""

    def __init__(self, errors: list[FieldError], data: Any = None) -> None:
        self.errors = errors
        self.data = data
        super().__init__("; ".join(str(e) for e in errors))


def _json_refused(rule: str, reason: str) -> JsonRefused:
    return JsonRefused([FieldError("$", rule, reason)])


def _text(raw: bytes | str, max_bytes: int) -> str:
    """The text: at most ``max_bytes`` of UTF-8 without a byte order mark."""
    too_large = f"a body is at most {max_bytes} bytes"
    if isinstance(raw, str):
        if len(raw) * 4 > max_bytes and len(raw.encode("utf-8", "surrogatepass")) > max_bytes:
            raise _json_refused("body.too_large", too_large)
        if raw.startswith("\ufeff"):
            raise _json_refused("body.bom", "starts with a byte order mark; send UTF-8 without one")
        return raw
    if len(raw) > max_bytes:
        raise _json_refused("body.too_large", too_large)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise _json_refused("body.bom", "starts with a byte order mark; send UTF-8 without one")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # its text quotes the offending byte: name the position only
        raise _json_refused("body.not_utf8", f"is not UTF-8 text (byte {exc.start})") from None


def _too_deep(text: str) -> bool:
    """Objects and arrays nested deeper than MAX_DEPTH, counted without parsing (strings left out)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for ch in _STRING.sub("", text):
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


class _Duplicated(dict[str, Any]):
    """An object of the JSON text in which a key appears more than once (the last value is kept here)."""

    keys_twice: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    counts = Counter(k for k, _ in pairs)
    dup = _Duplicated(obj)
    dup.keys_twice = tuple(sorted(k for k, n in counts.items() if n > 1))
    return dup


def _duplicates(node: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        prefix = f"{path}." if path else ""
        if isinstance(node, _Duplicated):
            found += [f"{prefix}{shown_key(k)}" for k in node.keys_twice]
        for key, value in node.items():
            found += _duplicates(value, f"{prefix}{shown_key(key)}")
    elif isinstance(node, list):
        prefix = f"{path}." if path else ""
        for i, value in enumerate(node):
            found += _duplicates(value, f"{prefix}{i}")
    return found


def _int(text: str) -> Any:
    return int(text) if len(text) <= MAX_NUMBER_CHARS else _OVERSIZE


def _float(text: str) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        return _OVERSIZE
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent beyond the decimal range
        return _OVERSIZE


def _constant(_: str) -> Any:
    return _NON_STANDARD


def read_json(raw: bytes | str, max_bytes: int = MAX_TRANSACTION_BYTES) -> Any:
    """JSON as every entrance of the pipeline reads it: at most ``max_bytes`` of UTF-8 without a BOM, nested
    at most MAX_DEPTH levels (checked before parsing), no key twice in an object, numbers exact (Decimal);
    NaN/Infinity and numbers over MAX_NUMBER_CHARS parse to markers that the field holding them refuses.
    Raises JsonRefused naming ``$`` or the path of each duplicated key."""
    text = _text(raw, max_bytes)
    if _too_deep(text):
        raise _json_refused("json.too_deep", f"objects and arrays nest deeper than {MAX_DEPTH} levels")
    duplicated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicated
        obj = _pairs(items)
        duplicated = duplicated or isinstance(obj, _Duplicated)
        return obj

    try:
        data = json.loads(text, parse_float=_float, parse_int=_int, parse_constant=_constant, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:  # the position only: the decoder's message is the rule, never the text
        raise _json_refused("json.malformed", f"malformed JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:  # not reached after the depth check; kept as the parser's own limit
        raise _json_refused("json.too_deep", "malformed JSON: nested too deeply") from None
    if duplicated:
        errors = [
            FieldError(path, "json.duplicate_key", "the same key appears more than once in one object")
            for path in _duplicates(data)
        ]
        raise JsonRefused(errors, data)
    return data


def parse_json(raw: bytes | str) -> Any:
    """One record's JSON (:func:`read_json`), refusals as InvalidTransaction."""
    try:
        return read_json(raw)
    except JsonRefused as exc:
        raise InvalidTransaction(exc.errors, transaction_id=_transaction_id_of(exc.data)) from None


def _transaction_id_of(data: Any) -> str | None:
    """The record's id when it is a valid identifier (an error never echoes anything else it was sent)."""
    tx_id = data.get("transactionId") if isinstance(data, dict) else None
    if isinstance(tx_id, str) and len(tx_id) <= MAX_ID_CHARS and IDENTIFIER.fullmatch(tx_id):
        return tx_id
    return None


def _invalid(exc: ValidationError, data: Any) -> InvalidTransaction:
    errors = [
        FieldError(_field_path(e["loc"]), _rule(e["type"]), _reason(dict(e)))
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return InvalidTransaction(errors, transaction_id=_transaction_id_of(data))


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return "a number"


def validate_transaction(raw: bytes | str | dict[str, Any] | Any, *, window: Window | None = None) -> Transaction:
    """Validate one transaction. Raises InvalidTransaction with one FieldError per problem, and nothing else.

    ``window``: the event times accepted (:class:`contracts.acceptance.Window`); default: received now,
    with the default future skew. Text is read by :func:`parse_json` first.
    """
    data = parse_json(raw) if isinstance(raw, bytes | str) else raw
    if not isinstance(data, dict):
        raise _refused("json.not_object", f"a transaction must be a JSON object, not {_json_kind(data)}")
    try:
        return Transaction.model_validate(data, context={"window": window or Window.at()})
    except ValidationError as exc:
        raise _invalid(exc, data) from None
