"""Turn raw input (bytes, text or a parsed dict) into a Transaction, or a clear error.

Every error names the field (a dotted wire path such as
``item_purchased.price.amount``) and the reason in a sentence.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from contracts.errors import FieldError, InvalidTransaction
from contracts.transaction import Transaction


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    return ".".join(parts) or "$"


def _reason(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of the transaction contract"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def parse_json(raw: bytes | str) -> Any:
    """Parse JSON with exact decimals (never float) for money."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except UnicodeDecodeError as exc:  # its text quotes the offending byte: name the position only
        raise InvalidTransaction([FieldError("$", f"is not UTF-8 text (byte {exc.start})")]) from None
    except json.JSONDecodeError as exc:  # the position only: the decoder's message is the rule, never the text
        raise InvalidTransaction([FieldError("$", f"malformed JSON: {exc.msg} at byte {exc.pos}")]) from None
    except ValueError:  # the one other ValueError json raises: an integer longer than Python converts
        raise InvalidTransaction([FieldError("$", "malformed JSON: a number has too many digits")]) from None
    except RecursionError:
        raise InvalidTransaction([FieldError("$", "malformed JSON: nested too deeply")]) from None


def _transaction_id_of(data: Any) -> str | None:
    tx_id = data.get("transactionId") if isinstance(data, dict) else None
    return tx_id if isinstance(tx_id, str) else None


def _invalid(exc: ValidationError, data: Any) -> InvalidTransaction:
    errors = [FieldError(_field_path(e["loc"]), _reason(dict(e))) for e in exc.errors()]
    return InvalidTransaction(errors, transaction_id=_transaction_id_of(data))


def validate_transaction(raw: bytes | str | dict[str, Any] | Any) -> Transaction:
    """Validate one transaction. Raises InvalidTransaction with one FieldError per problem.

    Text is validated by pydantic's own JSON parser (several times faster than
    ``json.loads`` + validation; amounts never pass through a binary float that
    could change them: at most 3 decimals below 1e8 round-trip exactly); the
    parsed form is only built to explain an error.
    """
    if isinstance(raw, bytes | str):
        try:
            return Transaction.model_validate_json(raw)
        except ValidationError as exc:
            data = parse_json(raw)  # malformed JSON raises here, naming "$"
            if not isinstance(data, dict):
                raise InvalidTransaction(
                    [FieldError("$", f"a transaction must be a JSON object, got {type(data).__name__}")]
                ) from None
            raise _invalid(exc, data) from None
    if not isinstance(raw, dict):
        raise InvalidTransaction([FieldError("$", f"a transaction must be a JSON object, got {type(raw).__name__}")])
    try:
        return Transaction.model_validate(raw)
    except ValidationError as exc:
        raise _invalid(exc, raw) from None
