"""Traces (Powertools Tracer, AWS X-Ray) and the ids that correlate an invocation's logs and traces.

Every handler is decorated, outermost first::

    @logger.inject_lambda_context(log_event=False)
    @tracer.capture_lambda_handler(capture_response=False)
    @correlated(logger, tracer)
    @stable_errors
    def handler(event, context): ...

``correlated`` reads the ids an event carries (:func:`correlation_ids`: the transaction id, the execution
ARN, the batch run id), adds them to every log line of the invocation (thread-local keys: locally many
invocations share a process) and annotates the trace with them and with the outcome (``ok`` or the
stable error class). Nothing else reaches a trace: no response (``capture_response=False``: several
handlers return the record), no payload, and only the AWS SDK is patched, not the database driver (a
PostgreSQL error's DETAIL can quote the row). Outside Lambda (``LAMBDA_TASK_ROOT`` unset) Powertools
turns the Tracer off: the decorators cost nothing.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Tracer
from aws_xray_sdk.core.models import entity as _xray_entity
from aws_xray_sdk.core.models.throwable import Throwable

from contracts.acceptance import IDENTIFIER, MAX_ID_CHARS

F = TypeVar("F", bound=Callable[..., Any])

#: The correlation keys (log keys and trace annotations), in the order they are looked for.
CORRELATION_KEYS = ("transaction_id", "execution_arn", "batch_run_id")
#: Execution ARNs: arn:<partition>:states:<region>:<account>:(execution|express):<machine>:<name>[:<id>]
_MAX_ARN_CHARS = 2048


class _NotTheHandlersErrors(logging.Filter):
    """Powertools' Tracer logs every exception a handler raises, with its traceback, at ERROR. Here a
    rejection is raised by design (the state machine catches it by name) and every error leaves through
    ``stable_errors``, which logs what it mapped: that line says it once, not again per rejection."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Exception received from ")


_tracer_log = logging.getLogger("aws_lambda_powertools.tracing.tracer")
if not any(isinstance(f, _NotTheHandlersErrors) for f in _tracer_log.filters):
    _tracer_log.addFilter(_NotTheHandlersErrors())


class _NamedOnly(Throwable):  # type: ignore[misc]
    """An exception as X-Ray records it, without its text: an AWS or database error message can quote a
    value of the record (a card number, an IP), and traces leave the compliance store. The class name
    and the stack (file, line, function) stay."""

    def __init__(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        super().__init__(exception, stack, remote)
        self.message = type(exception).__name__


# every subsegment's and segment's recorded exception goes through this class (entity.add_exception)
_xray_entity.Throwable = _NamedOnly
# Powertools would also attach the handler's exception object as trace metadata: off unless asked for
os.environ.setdefault("POWERTOOLS_TRACER_CAPTURE_ERROR", "false")


class _Tracer(Tracer):
    """Powertools' Tracer, which sets the process's X-Ray recorder to send each subsegment once per process,
    not once per Tracer.

    Each ``xray_recorder.configure`` call makes the X-Ray SDK's sampler build a new X-Ray client (a botocore
    session that reads the SDK's endpoint data again: ~0.1 s of CPU). A Lambda function has one Tracer, so
    nothing changes in AWS; a process that hosts several handler modules (the local runtime, the tests,
    ~23 of them) configured the same setting once per module, ~2-4 s of CPU at every start."""

    _streaming_set = False

    def _disable_xray_trace_batching(self) -> None:
        if _Tracer._streaming_set:
            return
        super()._disable_xray_trace_batching()  # type: ignore[no-untyped-call]
        _Tracer._streaming_set = not self.disabled


def get_tracer(service: str) -> Tracer:
    """The function's Tracer: the AWS SDK's calls as subsegments (botocore only, see the module)."""
    return _Tracer(service=service, patch_modules=("botocore",))


def _identifier(value: Any) -> str | None:
    """``value`` if it is an id as the contract defines one (so an unvalidated field never reaches a trace)."""
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS and IDENTIFIER.fullmatch(value):
        return value
    return None


def _execution_arn(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("arn:") and ":states:" in value and len(value) <= _MAX_ARN_CHARS:
        return value if IDENTIFIER.fullmatch(value) else None
    return None


def correlation_ids(event: Any) -> dict[str, str]:
    """The ids an event carries, from the shapes the state machines, the net and the sweeper send."""
    if not isinstance(event, Mapping):
        return {}
    transaction = event.get("transaction")
    detail = event.get("detail")
    found = {
        "transaction_id": _identifier(event.get("transaction_id"))
        or (_identifier(transaction.get("transactionId")) if isinstance(transaction, Mapping) else None),
        "execution_arn": _execution_arn(event.get("execution_id"))
        or _execution_arn(event.get("execution_arn"))
        or (_execution_arn(detail.get("executionArn")) if isinstance(detail, Mapping) else None),
        "batch_run_id": _identifier(event.get("run_id")),
    }
    return {key: value for key, value in found.items() if value is not None}


def correlated(logger: Logger, tracer: Tracer) -> Callable[[F], F]:
    """Handler decorator: the event's correlation ids on the invocation's log lines and trace annotations,
    and the outcome (``ok`` or the error's class name) as an annotation. Place it inside
    ``tracer.capture_lambda_handler`` (its subsegment is the one annotated) and outside ``stable_errors``
    (the outcome is the error class the state machine sees)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            ids = correlation_ids(event)
            logger.thread_safe_append_keys(**ids)
            for key, value in ids.items():
                tracer.put_annotation(key, value)
            try:
                result = fn(event, context, *args, **kwargs)
            except Exception as exc:
                tracer.put_annotation("outcome", type(exc).__name__)
                raise
            finally:
                logger.thread_safe_remove_keys(ids.keys())
            tracer.put_annotation("outcome", "ok")
            return result

        return cast(F, wrapper)

    return decorate
