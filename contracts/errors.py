"""Contract errors: stable class names (Step Functions Catch matches them) and human sentences.

Each field error names the field (a dotted wire path, ``$`` for the whole record), the rule's stable
code (``contracts/acceptance.py``) and a sentence stating the rule; never the value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason} [{self.rule}]"


#: Field errors kept per refusal: a record of 8 KiB can break a thousand rules (a thousand unknown keys); the
#: rest are counted, so that every answer, dead letter and alert stays small (SQS and SNS take 256 KB).
MAX_FIELD_ERRORS = 20


class InvalidTransaction(ValueError):
    """The payload does not satisfy the transaction contract."""

    def __init__(self, errors: list[FieldError], transaction_id: str | None = None) -> None:
        self.errors = errors[:MAX_FIELD_ERRORS]
        self.omitted = max(0, len(errors) - MAX_FIELD_ERRORS)
        self.transaction_id = transaction_id
        more = f"; and {self.omitted} more field errors" if self.omitted else ""
        super().__init__("invalid transaction: " + "; ".join(str(e) for e in self.errors) + more)

    def fields(self) -> list[dict[str, str]]:
        return [{"field": e.field, "rule": e.rule, "reason": e.reason} for e in self.errors]

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "error": type(self).__name__,
            "message": str(self),
            "transactionId": self.transaction_id,
            "fields": self.fields(),
        }
        if self.omitted:
            out["fields_omitted"] = self.omitted
        return out
