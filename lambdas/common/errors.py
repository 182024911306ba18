"""Errors with stable class names: Step Functions Retry/Catch match ``errorType`` on them.

Transient errors (retried with backoff by the state machines) derive from
``TransientError``; everything else is a permanent rejection of the record.
"""

from __future__ import annotations

import json
from typing import Any

from contracts.errors import InvalidTransaction


class PipelineError(Exception):
    """Base class: the message is a human sentence naming the field or resource."""


class ItemNotFound(PipelineError):
    pass


class ItemNotPurchasable(PipelineError):
    pass


class PriceMismatch(PipelineError):
    pass


class TransientError(PipelineError):
    """Worth retrying: the same input may succeed later."""


class DatabaseUnavailable(TransientError):
    pass


class StorageUnavailable(TransientError):
    pass


class AnalyticsWriteFailed(PipelineError):
    pass


class AlreadyStored(PipelineError):
    """The transaction id is in the compliance store already, from the other entrance."""


def needs_analytics_image(function: str, missing: ModuleNotFoundError) -> str:
    """The error of an analytics function deployed from the zip, which has no dbt or Great Expectations."""
    return (
        f"{missing.name} is not installed in this function: {function} needs the analytics image "
        "(Terraform variable analytics_image_uri; infra/README.md, 'The analytics image')"
    )


def cause_message(error: dict[str, Any]) -> str:
    """The human sentence of a Step Functions error ``{"Error", "Cause"}``: a Lambda error payload's
    ``errorMessage`` (or an entrance rejection's ``message``), else the Cause text as it is."""
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        return str(cause)
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage") or parsed.get("message") or cause)
    return str(cause)


#: Error names the state machines retry (plus AWS's own Lambda/throttling names).
TRANSIENT_ERRORS = ("DatabaseUnavailable", "StorageUnavailable")
#: Error names that reject a record for good.
REJECTIONS = ("InvalidTransaction", "ItemNotFound", "ItemNotPurchasable", "PriceMismatch")

__all__ = [
    "REJECTIONS",
    "TRANSIENT_ERRORS",
    "AlreadyStored",
    "AnalyticsWriteFailed",
    "DatabaseUnavailable",
    "InvalidTransaction",
    "ItemNotFound",
    "ItemNotPurchasable",
    "PipelineError",
    "PriceMismatch",
    "StorageUnavailable",
    "TransientError",
    "cause_message",
]
