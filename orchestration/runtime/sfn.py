"""Step Functions locally: the ASL files executed by moto's vendored interpreter.

moto (pinned exactly in requirements.lock) carries LocalStack's ASL interpreter.
These make it run our workflows in-process, each a small patch on a
private name, covered by ``tests/unit/test_sfn_adapter.py`` so that a moto
upgrade that moves them fails loudly:

* Lambda tasks (plain function ARNs and ``arn:aws:states:::lambda:invoke``) go
  through ``lambda_eval_utils._invoke_lambda_function``; we replace it with a
  dispatcher from function name to a Python handler. A handler that raises
  comes back as ``FunctionError`` with ``errorType`` = the exception class name,
  exactly as AWS Lambda reports it, so Retry/Catch ``ErrorEquals`` match it.
* Retry and Wait sleep for real; ``time_scale`` multiplies those sleeps
  (0 in tests). A Wait still yields for up to :data:`WAIT_FLOOR_SECONDS` at
  time scale 0, so a polling loop (the refresh's crawler loop) does not spin.
* ``arn:aws:states:::glue:startJobRun.sync``: moto's Glue integration calls
  StartJobRun and polls GetJobRun as Step Functions does, but its
  ``_eval_integration_pattern`` (shared with the callback integrations)
  releases a task-token endpoint that Glue tasks never have and fails every
  run with ``States.Runtime``. The local runtime gives the Glue integration
  its own, without the callback endpoint; what runs behind StartJobRun is the
  local runtime's job runner (``orchestration/runtime/glue.py``).
* ``aws-sdk:glue:*`` errors are ``Glue.<exception>`` in AWS (service name in
  PascalCase); moto names them ``glue.<exception>`` for want of an entry in its
  private ``_SERVICE_ERROR_NAMES``: the local runtime adds ``Glue``, so the
  refresh's Catch of ``Glue.CrawlerRunningException`` matches as in AWS.
* ``QueryLanguage: JSONata`` gets its evaluator from ``jsonata-python``.
* The interpreter parses the definition again for every execution (ANTLR, in
  Python: a fifth of an execution's CPU); parsed programs are cached by
  definition text. Evaluation state lives in each execution's environment
  (``env.heap``), not in the parsed components, so sharing them is safe.
* Every service integration built a new boto3 client per call (several ms of
  CPU each); clients are cached per (service, region, endpoint) instead.

Definitions are rendered like Terraform's ``templatefile()``: every
``${name}`` placeholder must be supplied, and nothing else is touched.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchestration.asl_policy import STATE_MACHINES as STATE_MACHINES_DIR
from orchestration.runtime import xray
from orchestration.runtime.moto_sfn import patch_moto_sfn_inline_untimed

# This process hosts the functions: set up as Lambda is before any handler is imported (the Tracer).
xray.host_lambdas()

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Handler = Callable[[dict[str, Any], Any], Any]


class MissingPlaceholder(KeyError):
    pass


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def render_definition(path: Path | str, values: Mapping[str, str]) -> str:
    """Fill ``${name}`` placeholders, as Terraform's templatefile() does; refuse missing ones."""
    text = Path(path).read_text()
    missing = placeholders(text) - set(values)
    if missing:
        raise MissingPlaceholder(f"{Path(path).name}: no value for {sorted(missing)}")
    rendered = _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)
    json.loads(rendered)  # a rendered definition must be JSON
    return rendered


class LambdaContext:
    """The parts of the AWS Lambda context object our handlers use."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_name
        self.memory_limit_in_mb = 512
        self.aws_request_id = "local"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


class LambdaRegistry:
    """Function name -> Python handler; resolves names, partial ARNs and full ARNs."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = {}
        #: the local runtime's fault injector: True when this invocation is to time out after it ran
        self.times_out: Callable[[str], bool] | None = None
        #: runs each invocation elsewhere, answering as ``invoke`` does (Lambda's worker processes: lambda_pool.py)
        self.delegate: Callable[[str, Any], dict[str, Any]] | None = None

    def register(self, function_name: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[function_name] = handler

    def clear(self) -> None:
        with self._lock:
            self._handlers.clear()
            self.invocations.clear()

    def names(self) -> list[str]:
        """The registered function names (the benchmarks wrap each handler to time it, benchmarks/cpu.py)."""
        with self._lock:
            return sorted(self._handlers)

    @staticmethod
    def _name(function_ref: str) -> str:
        # arn:aws:lambda:region:acct:function:NAME[:qualifier] | NAME
        if function_ref.startswith("arn:"):
            parts = function_ref.split(":")
            return parts[6]
        return function_ref.split(":")[0]

    def resolve(self, function_ref: str) -> Handler:
        name = self._name(function_ref)
        try:
            return self._handlers[name]
        except KeyError:
            raise LookupError(f"no local handler registered for Lambda function {name!r}") from None

    def invoke(self, function_ref: str, payload: Any) -> dict[str, Any]:
        """Invoke like ``lambda:Invoke`` (RequestResponse): returns the invocation response."""
        name, delegate = self._name(function_ref), self.delegate
        handler = self.resolve(function_ref) if delegate is None else None
        with self._lock:
            self.invocations[name] = self.invocations.get(name, 0) + 1
        if delegate is not None:
            response = delegate(name, payload)
            if response.get("FunctionError"):
                return response
        else:
            try:
                with xray.invocation(name):  # Lambda's segment of the trace, when the stack's daemon runs
                    result = handler(payload, LambdaContext(name))  # type: ignore[misc]
            except Exception as exc:  # noqa: BLE001 - every handler failure becomes a FunctionError
                body = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                        "stackTrace": traceback.format_exception(exc)[-3:]}  # fmt: skip
                return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": body}
            response = {"StatusCode": 200, "Payload": json.loads(json.dumps(result, default=str))}
        if self.times_out is not None and self.times_out(name):
            # the work is done, the answer lost: how AWS Lambda reports a function that outlived its timeout
            body = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out (fault injected)"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": body}
        return response


REGISTRY = LambdaRegistry()
_installed = False
_install_lock = threading.Lock()
_time_scale = 1.0


def _payload_of(parameters: Mapping[str, Any]) -> Any:
    raw = parameters.get("Payload")
    if raw is None:
        return {}
    if isinstance(raw, bytes | bytearray):
        return json.loads(raw.decode() or "{}")
    if isinstance(raw, str):
        return json.loads(raw or "{}")
    if hasattr(raw, "read"):
        return json.loads(raw.read() or b"{}")
    return raw


def _invoke_lambda_function(parameters: dict, region: str, state_credentials: Any) -> dict:
    response = REGISTRY.invoke(parameters["FunctionName"], _payload_of(parameters))
    return response


def _eval_jsonata(expression: str) -> Any:
    import jsonata  # jsonata-python

    result = jsonata.Jsonata(expression).evaluate(None)
    return json.loads(json.dumps(result, default=str)) if result is not None else None


_INTEGRATION_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
)


def _cache_integration_clients() -> None:
    import importlib

    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    from orchestration.runtime import moto_inprocess

    original = boto_client.boto_client_for
    cache: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    def cached_boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, str(moto_server_port()) if not boto_client.botocore_stubber.enabled else "stub")
        found = cache.get(key)
        if found is None:
            with lock:
                found = cache.get(key)
                if found is None:
                    found = original(region=region, service=service, state_credentials=state_credentials)
                    # served by the moto server's application in this process, not over HTTP (moto_inprocess.py)
                    found.meta.events.register("before-send", moto_inprocess.dispatch)  # type: ignore[arg-type]
                    cache[key] = found
        return found

    for name in _INTEGRATION_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = cached_boto_client_for  # type: ignore[attr-defined]


def _dynamodb_writes_in_process() -> None:
    """The interpreter's DynamoDB write tasks (putItem, updateItem, deleteItem) as JSON requests to the moto
    server's application in this process, without the SDK's client (``moto_inprocess.dynamodb_write``); any
    other call, or no server here, through the SDK client as before."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_dynamodb as module,
    )

    from orchestration.runtime import moto_inprocess

    service = module.StateTaskServiceDynamoDB
    original = service._eval_service_task

    def _eval_service_task(
        self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
    ) -> None:
        response = moto_inprocess.dynamodb_write(
            self._get_boto_service_action(), normalised_parameters, resource_runtime_part.region
        )
        if response is None:
            original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
            return
        env.stack.append(response)

    service._eval_service_task = _eval_service_task  # type: ignore[method-assign]


def set_time_scale(scale: float) -> None:
    """Multiply Retry/Wait sleeps of the local interpreter (0 = no sleeping)."""
    global _time_scale
    _time_scale = max(0.0, float(scale))


def install(time_scale: float | None = None) -> None:
    """Patch moto's interpreter (idempotent) and turn real execution on."""
    global _installed
    if time_scale is not None:
        set_time_scale(time_scale)
    with _install_lock:
        if _installed:
            return
        from moto.core.config import default_user_config
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
        from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        lambda_eval_utils._invoke_lambda_function = _invoke_lambda_function
        moto_jsonata._eval_jsonata = _eval_jsonata
        AmazonStateLanguageParser.parse = staticmethod(  # type: ignore[method-assign]
            functools.lru_cache(maxsize=128)(AmazonStateLanguageParser.parse)
        )

        class _ScaledTime:
            """``time`` as retrier_decl sees it, with sleep scaled."""

            def __getattr__(self, name: str) -> Any:
                import time

                return getattr(time, name)

            @staticmethod
            def sleep(seconds: float) -> None:
                import time

                if _time_scale > 0 and seconds > 0:
                    time.sleep(seconds * _time_scale)

        retrier_decl.time = _ScaledTime()  # type: ignore[assignment]
        original_wait = wait_function.WaitFunction._wait_interval

        def _scaled_wait(self: Any, env: Any, wait_seconds: int) -> None:
            if _time_scale == 1.0:
                original_wait(self, env, wait_seconds)
                return
            scaled = max(wait_seconds * _time_scale, min(wait_seconds, WAIT_FLOOR_SECONDS))
            if scaled > 0:
                env.program_state_event.wait(scaled)

        wait_function.WaitFunction._wait_interval = _scaled_wait  # type: ignore[method-assign]
        _run_glue_sync_without_a_callback()
        _bound_running_executions()
        patch_moto_sfn_inline_untimed()  # a program or state without a timeout runs on its caller's thread
        _cache_integration_clients()
        _dynamodb_writes_in_process()
        _add_the_apis_terraform_calls()
        _installed = True


def _run_glue_sync_without_a_callback() -> None:
    """``glue:startJobRun.sync`` in moto 5.2.5: StartJobRun, then GetJobRun every 0.5 s until the run ends
    (moto's own resolver: SUCCEEDED/STOPPED is the task's output, FAILED/TIMEOUT/ERROR is
    ``States.TaskFailed`` with the JobRun as the cause, as in AWS). Only the callback bookkeeping of the
    shared ``_eval_integration_pattern`` is left out: Glue tasks have no task token."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_glue

    def eval_integration_pattern(
        self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
    ) -> None:
        started = env.stack.pop()  # StartJobRun's response (JobRunId, JobName)
        self.timeout.eval(env=env)
        timeout_seconds = env.stack.pop()
        env.stack.append(started)
        resolver = self._build_sync_resolver(env=env, resource_runtime_part=resource_runtime_part,
                                             normalised_parameters=normalised_parameters,
                                             state_credentials=state_credentials)  # fmt: skip
        outcome = self._eval_sync(env=env, sync_resolver=resolver, timeout_seconds=timeout_seconds,
                                  callback_endpoint=None, heartbeat_endpoint=None)  # fmt: skip
        env.stack.append(outcome)

    service = state_task_service_glue.StateTaskServiceGlue
    service._eval_integration_pattern = eval_integration_pattern  # type: ignore[method-assign]

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk

    state_task_service_aws_sdk._SERVICE_ERROR_NAMES["glue"] = "Glue"


#: at time scale 0 a Wait still yields this long (or its own length if shorter): a polling loop does not spin
WAIT_FLOOR_SECONDS = 0.2

#: executions the interpreter runs at once; the others wait (RUNNING, as a throttled start in AWS) for a slot
MAX_RUNNING_EXECUTIONS = 16


class _ExecutionThreads:
    """``size`` daemon threads, started with the first ``size`` runs and kept, that take the runs in turn."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0

    def submit(self, run: Any) -> None:
        self._queue.put(run)
        with self._lock:
            if self._threads < self._size:
                self._threads += 1
                threading.Thread(target=self._serve, daemon=True, name="mtx-sfn-execution").start()

    def _serve(self) -> None:
        while True:
            run = self._queue.get()
            try:
                run()
            except BaseException:  # logged (a dying execution thread printed it, or, for SystemExit, nothing);
                # this thread goes on with the next run, so the bound never shrinks
                logging.getLogger(__name__).exception("an execution's thread raised")


_execution_threads = _ExecutionThreads(MAX_RUNNING_EXECUTIONS)


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads: its executions get threads of their own (the local
    runtime's processes are spawned, so this is for a caller that forks)."""
    global _execution_threads
    _execution_threads = _ExecutionThreads(MAX_RUNNING_EXECUTIONS)


os.register_at_fork(after_in_child=_after_fork_in_child)


def _bound_running_executions() -> None:
    """At most MAX_RUNNING_EXECUTIONS executions evaluate at once in this process, on threads kept for them.

    moto starts a thread per execution and more per state; a burst of starts (the API answers 202 at
    once) used to put 1,000+ threads on one interpreter lock, where a single request could wait over a
    minute. A started execution now waits for one of MAX_RUNNING_EXECUTIONS threads: RUNNING all the same,
    and the work drains at the rate the machine can do it. The threads are kept (not one started per
    execution). Synchronous (Express StartSyncExecution) workers run inline as before.
    """
    from moto.stepfunctions.parser.backend import execution_worker

    def start(self: Any) -> None:
        _execution_threads.submit(self._execution_logic)

    execution_worker.ExecutionWorker.start = start  # type: ignore[method-assign]


#: the ASL parser is not thread-safe (Terraform creates the machines in parallel; one CI run saw a
#: definition read with another's QueryLanguage): one parse at a time
_PARSE_LOCK = threading.Lock()


def validate_definition(definition: str) -> list[dict[str, str]]:
    """ValidateStateMachineDefinition's diagnostics for ``definition``, from the interpreter's own ASL parser."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    try:
        json.loads(definition)
    except (TypeError, ValueError) as exc:
        return [{"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": f"definition is not JSON: {exc}"}]
    try:
        with _PARSE_LOCK:
            AmazonStateLanguageParser.parse(definition)
    except Exception as exc:  # noqa: BLE001 - the parser raises its own and ANTLR's errors; each is a diagnostic
        return [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": str(exc) or type(exc).__name__}]
    return []


def _add_the_apis_terraform_calls() -> None:
    """moto 5.2.5 lacks ValidateStateMachineDefinition and ListStateMachineVersions, which Terraform's
    aws_sfn_state_machine calls around creating. The local runtime adds them, answering validation from the
    same parser that executes the definition, so the Terraform modules stay as they are for AWS."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def validate_state_machine_definition(self: Any) -> Any:
        diagnostics = validate_definition(self._get_param("definition") or "")
        return ActionResult({"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics, "truncated": False})

    def list_state_machine_versions(self: Any) -> Any:
        machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
        versions = [
            {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date}
            for _, v in sorted(getattr(machine, "versions", {}).items(), reverse=True)
        ]
        return ActionResult({"stateMachineVersions": versions})

    StepFunctionResponse.validate_state_machine_definition = validate_state_machine_definition  # type: ignore[attr-defined]
    StepFunctionResponse.list_state_machine_versions = list_state_machine_versions  # type: ignore[attr-defined]


__all__ = ["REGISTRY", "STATE_MACHINES_DIR", "LambdaContext", "LambdaRegistry", "MissingPlaceholder", "install",
           "placeholders", "render_definition", "set_time_scale"]  # fmt: skip
