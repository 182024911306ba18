"""The transaction contract: model, acceptance rules, JSON Schema, PII tags and the strip function."""

from contracts.acceptance import RULE_BY_CODE, RULES, Window
from contracts.errors import FieldError, InvalidTransaction
from contracts.pii import PII_FIELDS, analytics_record, strip_pii, to_analytics_record
from contracts.transaction import CONTRACT_VERSION, MAX_TRANSACTION_BYTES, Transaction
from contracts.validation import parse_json, validate_transaction

__all__ = [
    "CONTRACT_VERSION",
    "MAX_TRANSACTION_BYTES",
    "PII_FIELDS",
    "RULES",
    "RULE_BY_CODE",
    "FieldError",
    "InvalidTransaction",
    "Transaction",
    "Window",
    "analytics_record",
    "parse_json",
    "strip_pii",
    "to_analytics_record",
    "validate_transaction",
]
