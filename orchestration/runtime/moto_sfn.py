"""moto's Step Functions executions, found by name or ARN in O(1) instead of a scan (a local artefact).

moto 5.2.5 keeps a state machine's executions in a list and finds one by walking it:

- StartExecution checks the name's idempotency (``StateMachine._handle_name_input_idempotency``) against
  every execution the state machine ever ran;
- DescribeExecution, GetExecutionHistory and StopExecution look the execution up by ARN the same way.

So the per-transaction path (one StartExecution and several DescribeExecution polls per transaction) costs
O(executions so far) per call, and the rate falls as the stack ages. Here each state machine's list is an
:class:`IndexedExecutions` (still a list: the same order, what ListExecutions returns) that keeps a dict by
name and by ARN as executions are appended; the lookups read the dicts. Same answers and errors as moto's
(``ExecutionAlreadyExists`` for a name reused with another input or after its run ended,
``ExecutionDoesNotExist``).

And :func:`patch_moto_sfn_json_paths`: the interpreter parses every JSONPath (InputPath, ResultPath,
Parameters' ``.$`` fields...) with ``jsonpath_ng``'s ``parse`` each time it evaluates one, and that builds a
new PLY parser (grammar tables, lexer rules through module introspection) per call: ~35 per execution of the
transaction workflow, the largest single cost of the interpreter's CPU in a profile (cProfile on thread CPU
time, 150 executions). The parsed expression is a pure value (``find`` and ``update`` do not change it), so
it is parsed once per path text.

And :func:`patch_moto_sfn_copies`: the interpreter deep-copies the JSON it passes between states at every
step (each path it reads, each state's input and result, each task's parameters, each frame's stack), with
``copy.deepcopy``, whose memo and per-type dispatch made it the interpreter's largest cost: 18% of the stack's
CPU on the per-transaction path (yappi, CPU clock, 400 executions). The values are JSON (dicts, lists, strings,
numbers, booleans, null): :func:`json_copy` copies those by their type and hands anything else to
``copy.deepcopy``, so the result is the same independent copy. What it does not keep is deepcopy's sharing of
one sub-object reached twice, which JSON has no notion of (it cannot say two values are the same object).

And :func:`patch_moto_sfn_end_journal`: moto emits no "Step Functions Execution Status Change" event, so the
local runtime played the EventBridge rules on it by listing, every 2 s, every FAILED / TIMED_OUT / ABORTED
execution of every state machine (all pages), and moto filters and sorts all of a machine's executions for each
page: a round cost O(executions so far x pages) and the stack slowed as it aged (~35 ms a page, ~10 pages a round
after the integration tests' few thousand executions). Now the interpreter records each execution as it ends
(:data:`ENDED`, numbered, the last :data:`KEEP_ENDED`), and the runtime's rule player reads what ended since its
last round (``triggers.ExecutionStatusEvents``), as EventBridge pushes the event when the execution ends.

Covered by tests/unit/test_moto_sfn.py.
"""

from __future__ import annotations

import copy
import functools
import importlib
import threading
from collections import deque
from typing import Any

_patched = False
_json_paths_patched = False
_copies_patched = False
_journal_patched = False
_inline_patched = False

#: how many ended executions :data:`ENDED` keeps (a reader further behind lists the executions instead)
KEEP_ENDED = 50_000


class IndexedExecutions(list[Any]):
    """A state machine's executions, in start order, with an index by name and by ARN."""

    def __init__(self, executions: Any = ()) -> None:
        super().__init__()
        self.by_name: dict[str, Any] = {}
        self.by_arn: dict[str, Any] = {}
        self.extend(executions)

    def append(self, execution: Any) -> None:
        super().append(execution)
        self.by_name.setdefault(execution.name, execution)  # moto's scan finds the first of a name
        self.by_arn.setdefault(execution.execution_arn, execution)

    def extend(self, executions: Any) -> None:
        for execution in executions:
            self.append(execution)


def _indexed(state_machine: Any) -> IndexedExecutions:
    executions = state_machine.__dict__.get("executions")
    if not isinstance(executions, IndexedExecutions):
        executions = IndexedExecutions(executions or ())
        state_machine.executions = executions
    return executions


def patch_moto_sfn_executions() -> None:
    """Idempotent."""
    global _patched
    if _patched:
        return
    from moto.stepfunctions.exceptions import ExecutionAlreadyExists, ExecutionDoesNotExist
    from moto.stepfunctions.models import StateMachine, StepFunctionBackend

    original_init = StateMachine.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        _indexed(self)

    def handle_name_input_idempotency(self: Any, name: str, execution_input: str) -> Any:
        execution = _indexed(self).by_name.get(name)
        if execution is None:
            return None
        if execution_input == execution.execution_input and execution.status == "RUNNING":
            return execution  # the same name and input while it runs: the same execution
        raise ExecutionAlreadyExists("Execution Already Exists: '" + execution.execution_arn + "'")

    def find(self: Any, execution_arn: str) -> tuple[Any, Any]:
        self._validate_execution_arn(execution_arn)
        state_machine = self._get_state_machine_for_execution(execution_arn)
        execution = _indexed(state_machine).by_arn.get(execution_arn)
        if execution is None:
            raise ExecutionDoesNotExist("Execution Does Not Exist: '" + execution_arn + "'")
        return state_machine, execution

    def describe_execution(self: Any, execution_arn: str) -> Any:
        return find(self, execution_arn)[1]

    def stop_execution_of_machine(self: Any, execution_arn: str) -> Any:
        from moto.core.utils import utcnow

        execution = _indexed(self).by_arn.get(execution_arn)
        if execution is None:
            raise ExecutionDoesNotExist("Execution Does Not Exist: '" + execution_arn + "'")
        execution.stop(stop_date=utcnow(), error="", cause="")
        return execution

    StateMachine.__init__ = init  # type: ignore[method-assign]
    StateMachine._handle_name_input_idempotency = handle_name_input_idempotency  # type: ignore[method-assign]
    StateMachine.stop_execution = stop_execution_of_machine  # type: ignore[method-assign]
    StepFunctionBackend.describe_execution = describe_execution  # type: ignore[method-assign]
    _patched = True


def patch_moto_sfn_json_paths() -> None:
    """Idempotent: each JSONPath text parsed once (``jsonpath_ng`` builds a parser per ``parse`` call)."""
    global _json_paths_patched
    if _json_paths_patched:
        return
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)
    _json_paths_patched = True


_ATOMS = (str, int, float, bool, type(None))


def json_copy(value: Any, memo: Any = None) -> Any:
    """An independent copy of a JSON value, as ``copy.deepcopy`` makes it; other types go to ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value, memo)


class _CopyWithJsonCopy:
    """``copy`` as the interpreter's modules see it, with ``deepcopy`` = :func:`json_copy`."""

    deepcopy = staticmethod(json_copy)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


#: the interpreter's modules that copy the JSON passed between states (moto 5.2.5); the others copy objects
_JSON_COPYING_MODULES = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel",
)


def patch_moto_sfn_copies() -> None:
    """Idempotent: the interpreter's JSON copies made by :func:`json_copy`."""
    global _copies_patched
    if _copies_patched:
        return
    shim = _CopyWithJsonCopy()
    for name in _JSON_COPYING_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "copy", None) is copy:
            module.copy = shim  # type: ignore[attr-defined]
    _copies_patched = True


class _Unkept(list):
    """moto's ``TMP_THREADS`` as the interpreter's modules see it: nothing appended is kept."""

    def append(self, item: Any) -> None:
        return None


#: the interpreter's modules that append every thread they start to moto's ``TMP_THREADS`` (moto 5.2.5)
_THREAD_LISTING_MODULES = (
    "moto.stepfunctions.parser.utils",
    "moto.stepfunctions.parser.backend.execution_worker",
    "moto.stepfunctions.parser.asl.component.program.program",
    "moto.stepfunctions.parser.asl.component.test_state.program.test_state_program",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_component",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker",
)


def patch_moto_sfn_threads() -> None:
    """Idempotent: the interpreter no longer keeps every thread it ever started.

    moto's interpreter appends each thread it starts (an execution's, its program's, one per Task state, one per
    branch or iteration) to the module-global list ``TMP_THREADS``, which nothing reads back or clears: about 2 KB per
    finished thread, ~11 threads and ~23 KB per execution of the transaction workflow, so a local stack that ran
    20,000 executions held ~450 MB of finished threads, and Python's garbage collector walked them all on every
    full collection. moto only appends to the list, so the modules now see one that keeps nothing."""
    unkept = _Unkept()
    for name in _THREAD_LISTING_MODULES:
        module = importlib.import_module(name)
        if isinstance(getattr(module, "TMP_THREADS", None), list):
            module.TMP_THREADS = unkept  # type: ignore[attr-defined]


class _InlineThread:
    """A ``Thread`` whose ``start`` runs its target on the calling thread (``execute_state`` calls only that)."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def start(self) -> None:
        self._target()


#: set on a thread for the one task thread the interpreter is about to make for an untimed Task state
_untimed = threading.local()


def _task_thread(target: Any, daemon: bool | None = None) -> Any:
    """``Thread`` as ``execute_state`` sees it: inline for the untimed Task state that asked, a thread otherwise."""
    if getattr(_untimed, "inline", False):
        _untimed.inline = False
        return _InlineThread(target)
    return threading.Thread(target=target, daemon=daemon)


def patch_moto_sfn_inline_untimed() -> None:
    """Idempotent: an execution's program and its untimed Task states run on the execution's own thread.

    moto's interpreter starts a thread for each execution's program (``Program.eval``) and one for each Task state
    (``ExecutionState._evaluate_with_timeout``), then waits for it with the state machine's or the state's
    ``TimeoutSeconds``, so that a run past its timeout can be left behind as timed out. Without a timeout (the
    program's ``None``; a Task's ``TimeoutSeconds`` unset, moto's default of 99,999,999 s) the wait is a plain
    join: the caller does nothing until the thread ends. Such a program or state now runs on the caller's thread,
    in the same order with the same frames, events and errors; one with a timeout keeps its thread (so does a
    Task with ``HeartbeatSeconds`` and no ``TimeoutSeconds``: moto times it out at 60 s, flagged as a default).
    That is ~9 thread starts fewer per execution of the transaction workflow (~0.1 ms of CPU each, and a hand-over
    of the interpreter lock each way).

    A program's run that raised past the interpreter's own handlers ended its thread, and the execution was still
    closed (``terminated``); inline, the same error is logged and the execution is closed the same way."""
    global _inline_patched
    if _inline_patched:
        return
    import logging

    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    log = logging.getLogger(__name__)  # not moto's loggers, which the local server quiets
    threaded_program = Program.eval

    def program_eval(self: Any, env: Any) -> None:
        if self.timeout_seconds is not None:
            threaded_program(self, env)
            return
        env.next_state_name = self.start_at.start_at_name
        try:
            EvalComponent.eval(self, env)
        except Exception:  # its thread's end, as the thread's exception hook reported it
            log.exception("the program of an execution raised past the interpreter")

    threaded_task = execute_state.ExecutionState._evaluate_with_timeout

    def evaluate_with_timeout(self: Any, env: Any) -> None:
        timeout = self.timeout  # a heartbeat without TimeoutSeconds gets moto's "default" of 60 s: timed
        _untimed.inline = (type(timeout) is TimeoutSeconds and timeout.is_default_value()
                           and timeout.timeout_seconds == TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS
                           and getattr(self, "heartbeat", None) is None)  # fmt: skip
        try:
            threaded_task(self, env)
        finally:
            _untimed.inline = False

    Program.eval = program_eval  # type: ignore[method-assign]
    execute_state.Thread = _task_thread  # type: ignore[misc,assignment]
    execute_state.ExecutionState._evaluate_with_timeout = evaluate_with_timeout  # type: ignore[method-assign]
    _inline_patched = True


class EndedExecutions:
    """Executions in the order they ended, each numbered: ``(execution ARN, state machine ARN, status)``.

    Only the last ``keep`` are kept. A reader keeps a cursor (the number after the last entry it read) and asks
    :meth:`since` for what came after it; ``None`` tells it that some of that is no longer kept."""

    def __init__(self, keep: int = KEEP_ENDED) -> None:
        self._lock = threading.Lock()
        self._entries: deque[tuple[int, str, str, str]] = deque(maxlen=keep)
        self._next = 0

    def record(self, execution_arn: str, state_machine_arn: str, status: str) -> None:
        with self._lock:
            self._entries.append((self._next, execution_arn, state_machine_arn, status))
            self._next += 1

    def since(self, cursor: int | None) -> tuple[int, list[tuple[str, str, str]]] | None:
        """The cursor after the newest entry, and the entries numbered ``cursor`` and after, oldest first
        (none for ``cursor`` None: a reader's start). None when the cursor is not one this journal gave
        out or entries after it were dropped."""
        with self._lock:
            if cursor is None:
                return self._next, []
            oldest = self._entries[0][0] if self._entries else self._next
            if not oldest <= cursor <= self._next:
                return None
            newer: list[tuple[str, str, str]] = []
            for number, *entry in reversed(self._entries):  # from the newest: O(what is new), not O(kept)
                if number < cursor:
                    break
                newer.append((entry[0], entry[1], entry[2]))
            newer.reverse()
            return self._next, newer


#: the executions the interpreter of this process ended (:func:`patch_moto_sfn_end_journal`)
ENDED = EndedExecutions()


def patch_moto_sfn_end_journal() -> None:
    """Idempotent: every execution the interpreter ends is recorded in :data:`ENDED`, status set first."""
    global _journal_patched
    if _journal_patched:
        return
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original(self)  # sets the execution's status and stop date (_reflect_execution_status)
        execution = self.execution
        ENDED.record(execution.exec_arn, execution.state_machine_arn, execution.exec_status.value)

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    _journal_patched = True
