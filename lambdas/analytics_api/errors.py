"""API errors: the class name is the stable ``error`` code of the JSON body, the message a human sentence.

The same classes are raised by the job Lambda, so Step Functions Retry/Catch match on the names.
Database error text never reaches a message: the warehouse layer raises these ``from None``.
"""

from __future__ import annotations

from typing import Any

from lambdas.common.errors import PipelineError


class ApiError(PipelineError):
    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def code(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}


class InvalidJson(ApiError):
    status = 400


class UnknownOperation(ApiError):
    status = 400


class InvalidParameters(ApiError):
    status = 400


class SqlNotAllowed(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class JobNotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class PayloadTooLarge(ApiError):
    status = 413


class QueryFailed(ApiError):
    """The warehouse refused the query (not a connection problem); the cause is logged, not returned."""

    status = 500


class WarehouseUnavailable(ApiError):
    status = 503


class DataNotReady(ApiError):
    """A mart the operation reads does not exist yet (dbt has not built it)."""

    status = 503


class ServiceUnavailable(ApiError):
    status = 503


#: Error code -> the message a job status shows (never the raw cause).
JOB_ERROR_MESSAGES: dict[str, str] = {
    "DatabaseUnavailable": "the warehouse was unavailable; the job was retried with backoff and then gave up",
    "WarehouseUnavailable": "the warehouse was unavailable; the job was retried with backoff and then gave up",
    "DataNotReady": "a table the operation reads does not exist yet",
    "QueryFailed": "the analytics query failed",
    "StorageUnavailable": "the results could not be stored",
    "UnknownOperation": "the operation is not known",
    "InvalidParameters": "the parameters are not valid for the operation",
}
