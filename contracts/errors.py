"""Contract errors: stable class names (Step Functions Catch matches them) and human sentences."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class InvalidTransaction(ValueError):
    """The payload does not satisfy the transaction contract."""

    def __init__(self, errors: list[FieldError], transaction_id: str | None = None) -> None:
        self.errors = errors
        self.transaction_id = transaction_id
        super().__init__("invalid transaction: " + "; ".join(str(e) for e in errors))

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "message": str(self),
            "transactionId": self.transaction_id,
            "fields": [{"field": e.field, "reason": e.reason} for e in self.errors],
        }
