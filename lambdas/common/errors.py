"""Errors with stable class names: Step Functions Retry/Catch match ``errorType`` on them.

Transient errors (retried with backoff by the state machines) derive from
``TransientError``; everything else is a permanent rejection of the record.
"""

from __future__ import annotations

import functools
import json
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar, cast

from contracts.errors import InvalidTransaction

F = TypeVar("F", bound=Callable[..., Any])
_logger = logging.getLogger("mtx.errors")


class PipelineError(Exception):
    """Base class: the message is a human sentence naming the field or resource."""


class ItemNotFound(PipelineError):
    pass


class ItemNotPurchasable(PipelineError):
    pass


class PriceMismatch(PipelineError):
    pass


class FxRateMissing(PipelineError):
    """No USD exchange rate in force on the transaction's event date (lambdas/common/enrich/fx.py): the FX table
    may be refreshed meanwhile, so the transaction workflow retries it for a bounded time, then dead-letters it;
    the bulk entrances dead-letter the record with this name (a redrive retries it)."""


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


class StaleVersion(PipelineError):
    """An older status of a transaction arriving after a newer one was stored (contracts.lifecycle STALE):
    harmless, nothing written; the workflow ends it as a duplicate, never dead-letters it."""


class LifecycleMoveRefused(PipelineError):
    """A status update the lifecycle refuses (contracts.lifecycle: ``lifecycle.move_not_allowed``) or one that
    changes a field a later version may not change (``lifecycle.immutable_field``): a rejection, dead-lettered.
    The message names the field and the rule, never a value."""

    def __init__(self, field: str, rule: str, reason: str) -> None:
        self.field, self.rule = field, rule
        super().__init__(f"{reason} [{rule}]")


class DatabaseRejected(PipelineError):
    """The database refused a statement for good (a constraint, a type, a permission): named by its class and
    SQLSTATE only, since the driver's own text can quote the row's values."""


class ServiceRejected(PipelineError):
    """An AWS service refused a request for good: named by operation and error code only (its message can
    quote the request, e.g. a DynamoDB key)."""


class UnexpectedError(PipelineError):
    """Any other exception leaving a handler: named by its class and where it was raised, never its text."""


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
REJECTIONS = ("InvalidTransaction", "ItemNotFound", "ItemNotPurchasable", "PriceMismatch", "LifecycleMoveRefused")

__all__ = [
    "REJECTIONS",
    "TRANSIENT_ERRORS",
    "AlreadyStored",
    "AnalyticsWriteFailed",
    "DatabaseRejected",
    "DatabaseUnavailable",
    "InvalidTransaction",
    "ItemNotFound",
    "ItemNotPurchasable",
    "LifecycleMoveRefused",
    "PipelineError",
    "PriceMismatch",
    "ServiceRejected",
    "StaleVersion",
    "StorageUnavailable",
    "TransientError",
    "UnexpectedError",
    "cause_message",
    "stable_error",
    "stable_errors",
]


# --------------------------------------------------------------------------- transient faults of the services
#: Error codes of AWS services that mean "try again later" (throttling, a 5xx, a request the service timed out).
TRANSIENT_AWS_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "SlowDown", "RequestThrottled", "RequestThrottledException",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalError", "InternalFailure",
    "InternalServerError", "InternalServerErrorException", "RequestTimeout", "RequestTimeoutException",
    "TransactionInProgressException", "KMSThrottlingException", "KmsThrottled", "PriorRequestNotComplete",
})  # fmt: skip


def transient_service_error(exc: BaseException) -> TransientError | None:
    """The transient error class a transport or service failure stands for, or None when it is not transient.

    botocore's connection failures (reset, closed, timed out, endpoint unreachable), throttling and
    5xx answers become ``StorageUnavailable`` (the AWS services a function stores in or reads from);
    a PostgreSQL connection failure becomes ``DatabaseUnavailable``. The message names the service
    or driver and the error class, never a value from the request.
    """
    if isinstance(exc, TransientError):
        return exc
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ConnectionError | HTTPClientError):  # ConnectionClosedError, ReadTimeoutError, ...
        return StorageUnavailable(f"an AWS service could not be reached: {type(exc).__name__}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in TRANSIENT_AWS_CODES or status >= 500:
            operation = getattr(exc, "operation_name", "") or "a call"
            return StorageUnavailable(f"AWS answered {operation} with {code or status}: retry later")
        return None
    try:
        import psycopg
    except ModuleNotFoundError:  # a function without the driver
        return None
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return DatabaseUnavailable(f"the database failed: {type(exc).__name__}")
    return None


def stable_error(exc: BaseException, where: str = "") -> BaseException:
    """What may leave a function for Step Functions (whose history, Catch and alerts see the message):
    the product's own errors as they are (their messages name fields and rules, never values), transient
    faults as their retried class (:func:`transient_service_error`), and everything else as a permanent
    error that names the class and SQLSTATE / operation and code only: a driver or SDK message (or a
    ``KeyError`` / ``ValueError`` text) can quote a card number or an IP address from the record."""
    if isinstance(exc, PipelineError | InvalidTransaction):
        return exc
    mapped = transient_service_error(exc)
    if mapped is not None:
        return mapped
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "")) or "an error"
        return ServiceRejected(f"AWS refused {getattr(exc, 'operation_name', '') or 'a call'}: {code}")
    if isinstance(exc, BotoCoreError):
        return ServiceRejected(f"the AWS SDK failed: {type(exc).__name__}")
    try:
        import psycopg
    except ModuleNotFoundError:  # a function without the driver
        psycopg = None  # type: ignore[assignment]
    if psycopg is not None and isinstance(exc, psycopg.Error):
        return DatabaseRejected(f"the database refused the statement: {type(exc).__name__} (SQLSTATE {exc.sqlstate})")
    return UnexpectedError(f"{type(exc).__name__} in {where or 'the function'}")


def stable_errors(fn: F) -> F:
    """Handler decorator: every exception leaves as :func:`stable_error` makes it. Transient transport or
    service failures leave as ``StorageUnavailable`` / ``DatabaseUnavailable``, which the state machines
    retry with backoff, instead of as the library's own class (which no Retry names, so the record would
    be dead-lettered); no library's message text leaves at all. The original is logged by class and
    line only."""
    where = fn.__module__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            mapped = stable_error(exc, where)
            if mapped is exc:
                raise
            frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            _logger.warning(
                "%s raised %s at %s:%s, leaving as %s",
                where, type(exc).__name__, frame.filename if frame else "?", frame.lineno if frame else "?",
                type(mapped).__name__,
            )  # fmt: skip
            raise mapped from None

    return cast(F, wrapper)
