"""The transaction contract: model, JSON Schema, PII tags and the strip function."""

from contracts.errors import FieldError, InvalidTransaction
from contracts.pii import PII_FIELDS, strip_pii, to_analytics_record
from contracts.transaction import CONTRACT_VERSION, MAX_TRANSACTION_BYTES, Transaction
from contracts.validation import parse_json, validate_transaction

__all__ = [
    "CONTRACT_VERSION",
    "MAX_TRANSACTION_BYTES",
    "PII_FIELDS",
    "FieldError",
    "InvalidTransaction",
    "Transaction",
    "parse_json",
    "strip_pii",
    "to_analytics_record",
    "validate_transaction",
]
