"""Local triggers: what EventBridge does in AWS that moto's EventBridge does not.

- ``BatchTrigger``: when a file lands under ``incoming/``, S3 (moto) emits the real "Object Created"
  event to EventBridge (moto), whose rule (the same pattern as Terraform's) targets a queue; this relay
  starts the batch workflow with the event as its input, as EventBridge's Step Functions target does.
  No event is lost: a message is deleted only once its execution has started (or had started: the
  execution name comes from the event's id, so a message seen again after its start, e.g. when the
  delete failed, finds its execution instead of starting a second run). An event whose start fails stays
  in the queue and is tried again when SQS shows it again, like EventBridge's retry policy; the other
  events of the same receive go on.
- ``ScheduledRules``: every rule with a ScheduleExpression (``rate(...)``) invokes its Lambda targets
  through the local Lambda registry at its rate (times a time scale), with the "Scheduled Event" AWS sends.
- ``ExecutionStatusEvents``: moto's Step Functions emits no "Step Functions Execution Status Change"
  events; for every rule whose pattern asks for them, each execution of the state machines it names that
  ended in one of its statuses is delivered once, in the event shape AWS documents, to the rule's Lambda
  targets. What ended is read from the interpreter's journal of ended executions (``moto_sfn.ENDED``) since
  the last round, or, without one, by listing the machines' executions.

The rules themselves are read from moto's EventBridge, where orchestration/runtime/manifest.py (or Terraform)
created them with the names and patterns AWS has.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestration.runtime.ingest import Clients
from orchestration.runtime.sfn import REGISTRY, LambdaRegistry

_log = logging.getLogger("mtx.triggers")

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def run_name(key: str, event_id: str | None = None) -> str:
    """The execution (and run) name: the file's name and 16 hex digits, of the event's id when it has one
    (one event, one execution, however often it is relayed), else random."""
    stem = _SAFE.sub("_", key.rsplit("/", 1)[-1])[:50]
    tail = hashlib.sha256(event_id.encode()).hexdigest() if event_id else uuid.uuid4().hex
    return f"{stem}-{tail[:16]}"


class BatchTrigger:
    #: seconds a receive of the relay's loop waits for a message (SQS long polling: moto answers as soon as one
    #: is sent; an idle relay makes one request per WAIT_SECONDS, not one a second)
    WAIT_SECONDS = 10

    def __init__(self, clients: Clients, queue_url: str, state_machine_arn: str) -> None:
        self.clients = clients
        self.queue_url = queue_url
        self.state_machine_arn = state_machine_arn
        self.started: list[str] = []
        self.failed_starts = 0  # events whose start failed, each left in the queue to be tried again
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, wait_seconds: int = 1) -> list[str]:
        sqs = self.clients("sqs")
        msgs = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
        arns = []
        for m in msgs.get("Messages", []):
            if self._stop.is_set():  # stopping while the receive waited: not started, shown again at once
                with contextlib.suppress(Exception):
                    sqs.change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                    )
                continue
            try:
                arn = self._start(m["Body"])
            except Exception as exc:  # noqa: BLE001 - kept: SQS shows the message again after its visibility timeout
                self.failed_starts += 1
                _log.warning("batch trigger: start failed (%s); the event stays queued", type(exc).__name__)
                continue
            sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            arns.append(arn)
            self.started.append(arn)
        return arns

    def _start(self, body: str) -> str:
        event: dict[str, Any] = json.loads(body)
        key = event.get("detail", {}).get("object", {}).get("key", "file")
        name = run_name(key, event.get("id"))
        sfn = self.clients("stepfunctions")
        try:
            return str(
                sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(event))[
                    "executionArn"
                ]
            )
        except sfn.exceptions.ExecutionAlreadyExists:  # started by an earlier delivery of this event
            return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(self.WAIT_SECONDS)
            except Exception:  # noqa: BLE001 - a relay hiccup must not kill the runtime; the message stays queued
                self._stop.wait(1.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mtx-batch-trigger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the loop; does not wait out a receive that is still waiting (it starts nothing once stopped)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)


# --------------------------------------------------------------------------- rules with Lambda targets
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """The period of an EventBridge ``rate(N unit)`` expression in seconds; None for anything else (cron)."""
    m = _RATE.match(expression.strip())
    if not m:
        return None
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2).rstrip("s")]


def _is_lambda(arn: str) -> bool:
    return arn.startswith("arn:") and arn.split(":")[2] == "lambda"


def _rule_region_account(rule_arn: str) -> tuple[str, str]:
    parts = rule_arn.split(":")
    return parts[3], parts[4]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _list_rules(events: Any) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    token = None
    while True:
        page = events.list_rules(**({"NextToken": token} if token else {}))
        rules.extend(page.get("Rules", []))
        token = page.get("NextToken")
        if not token:
            return rules


def _lambda_targets(events: Any, rule: str) -> list[dict[str, Any]]:
    return [t for t in events.list_targets_by_rule(Rule=rule).get("Targets", []) if _is_lambda(t["Arn"])]


@dataclass(frozen=True)
class Delivery:
    rule: str
    function: str
    ok: bool
    error: str | None = None  # the error class only


def _invoke(registry: LambdaRegistry, rule: str, target: dict[str, Any], event: dict[str, Any]) -> Delivery:
    payload = json.loads(target["Input"]) if target.get("Input") else event
    function = target["Arn"].split(":")[6]
    try:
        response = registry.invoke(target["Arn"], payload)
    except LookupError:
        return Delivery(rule, function, ok=False, error="NoLocalHandler")
    if response.get("FunctionError"):
        error = str(response["Payload"].get("errorType", "Unknown"))
        _log.warning("rule %s: %s failed with %s", rule, function, error)
        return Delivery(rule, function, ok=False, error=error)
    return Delivery(rule, function, ok=True)


class _Poller:
    name = "mtx-poller"
    interval = 1.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> float:
        """One round; returns how long to wait before the next."""
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.tick()
            except Exception:  # noqa: BLE001 - a hiccup of the local AWS must not kill the runtime; retried next round
                _log.exception("%s: round failed", self.name)
                wait = self.interval
            self._stop.wait(max(0.05, wait))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


class ScheduledRules(_Poller):
    """EventBridge's scheduled rules, locally: each ENABLED rule with a ``rate(...)`` ScheduleExpression
    invokes its Lambda targets (through the local Lambda registry) every period x ``time_scale`` seconds,
    the first time one period after it is first seen. ``time_scale`` 0: never on their own, only when
    ``fire()`` is called (the test stack). Rules created later (by another part) are picked up within
    ``refresh`` seconds; cron expressions are not run (logged once)."""

    name = "mtx-scheduled-rules"

    def __init__(
        self, clients: Clients, registry: LambdaRegistry = REGISTRY, time_scale: float = 1.0, refresh: float = 5.0
    ) -> None:
        super().__init__()
        self.clients = clients
        self.registry = registry
        self.time_scale = max(0.0, float(time_scale))
        self.refresh = refresh
        self.deliveries: list[Delivery] = []
        self._due: dict[str, float] = {}
        self._unsupported: set[str] = set()
        self._lock = threading.Lock()

    def scheduled_rules(self) -> dict[str, dict[str, Any]]:
        """name -> rule, for every ENABLED rule with a ScheduleExpression."""
        return {
            r["Name"]: r
            for r in _list_rules(self.clients("events"))
            if r.get("ScheduleExpression") and r.get("State", "ENABLED") == "ENABLED"
        }

    def _event(self, rule: dict[str, Any]) -> dict[str, Any]:
        region, account = _rule_region_account(rule["Arn"])
        return {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": account, "time": _iso(dt.datetime.now(dt.UTC)), "region": region,
            "resources": [rule["Arn"]], "detail": {},
        }  # fmt: skip

    def fire(self, rule_name: str) -> list[Delivery]:
        """Run one rule now, as its schedule would: every Lambda target gets the Scheduled Event."""
        rule = self.scheduled_rules()[rule_name]
        events = self.clients("events")
        done = [_invoke(self.registry, rule_name, t, self._event(rule)) for t in _lambda_targets(events, rule_name)]
        with self._lock:
            self.deliveries.extend(done)
        return done

    def tick(self) -> float:
        if self.time_scale <= 0:
            return self.refresh
        now = time.monotonic()
        for name, rule in self.scheduled_rules().items():
            period = rate_seconds(rule["ScheduleExpression"])
            if period is None:
                if name not in self._unsupported:
                    _log.warning("rule %s: %s is not run locally (rate() only)", name, rule["ScheduleExpression"])
                    self._unsupported.add(name)
                continue
            due = self._due.setdefault(name, now + period * self.time_scale)
            if now >= due:
                self.fire(name)
                self._due[name] = max(due + period * self.time_scale, time.monotonic())
        upcoming = [d - time.monotonic() for d in self._due.values()]
        return min([self.refresh, *upcoming])


#: ended executions a failed round keeps to read again; beyond it, the next round lists instead
KEEP_RETRIES = 10_000


def _rule_keys(rules: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["Name"], r["EventPattern"], json.dumps(r["targets"], sort_keys=True, default=str)) for r in rules]


#: what the interpreter ended since a cursor (``MotoServer.ended_executions``): the next cursor and
#: ``(execution ARN, state machine ARN, status)`` oldest first, or None when the journal lost some of it
EndedSince = Callable[[int | None], tuple[int, list[tuple[str, str, str]]] | None]


class ExecutionStatusEvents(_Poller):
    """EventBridge rules on "Step Functions Execution Status Change", locally. For each ENABLED rule whose
    pattern has ``source: aws.states`` and that detail-type, every execution of the state machines named by
    ``detail.stateMachineArn`` (all, if it names none) that ended in a status of ``detail.status`` is
    delivered once to the rule's Lambda targets, in AWS's event shape. A delivery whose function fails is
    tried again on the next rounds, three times in all (as Lambda retries an asynchronous invocation twice).

    With ``ended`` (the stack's moto server's journal of ended executions), a round reads only what ended
    since the last one, as EventBridge is told when an execution ends: its cost follows the executions that
    ended, not every execution the stack ever ran. The first round, a round after the journal dropped entries
    this poller had not read, and a round that found the rules changed list the machines' executions of each
    status instead (ListExecutions, all pages), as every round does without ``ended``; the journal's position
    is taken before that listing, so an execution that ends during it is in one or the other (and is
    delivered once: deliveries are remembered by rule and execution). An execution whose DescribeExecution
    fails is tried again next round (and not counted as a delivery attempt); one that no longer exists is
    dropped."""

    name = "mtx-execution-status-events"
    DETAIL_TYPE = "Step Functions Execution Status Change"
    ATTEMPTS = 3

    def __init__(
        self,
        clients: Clients,
        registry: LambdaRegistry = REGISTRY,
        interval: float = 2.0,
        refresh: float = 30.0,
        ended: EndedSince | None = None,
    ) -> None:
        super().__init__()
        self.clients = clients
        self.registry = registry
        self.interval = interval
        self.refresh = refresh
        self.ended = ended
        self.deliveries: list[Delivery] = []
        self.listings = 0  # rounds that listed executions (the journal's absence, start or gap, a rule change)
        self.failed_describes = 0  # DescribeExecution calls that failed (each execution tried again next round)
        self._done: set[tuple[str, str]] = set()
        self._attempts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._rules: tuple[float, list[dict[str, Any]]] | None = None
        self._cursor: int | None = None
        self._retry: list[tuple[str, str, str]] = []  # ended executions a delivery failed for
        self._retry_logged: set[str] = set()  # executions whose failed DescribeExecution was logged

    def status_rules(self) -> list[dict[str, Any]]:
        """The rules asking for status-change events (read again every ``refresh`` seconds)."""
        if self._rules is not None and time.monotonic() - self._rules[0] < self.refresh:
            return self._rules[1]
        found = []
        for rule in _list_rules(self.clients("events")):
            if rule.get("State", "ENABLED") != "ENABLED" or not rule.get("EventPattern"):
                continue
            pattern = json.loads(rule["EventPattern"])
            if "aws.states" in pattern.get("source", []) and self.DETAIL_TYPE in pattern.get("detail-type", []):
                targets = _lambda_targets(self.clients("events"), rule["Name"])
                found.append({**rule, "pattern": pattern, "targets": targets})
        if self._rules is not None and _rule_keys(found) != _rule_keys(self._rules[1]):
            self._cursor = None  # a rule came, went or changed: the next round lists, as every round did before
        self._rules = (time.monotonic(), found)
        return found

    def event(self, execution: dict[str, Any], region: str, account: str) -> dict[str, Any]:
        """The event AWS sends (docs: "Step Functions Execution Status Change" in EventBridge)."""

        def millis(value: Any) -> int | None:
            return int(value.timestamp() * 1000) if isinstance(value, dt.datetime) else None

        stopped = execution.get("stopDate")
        return {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": self.DETAIL_TYPE, "source": "aws.states",
            "account": account,
            "time": _iso(stopped if isinstance(stopped, dt.datetime) else dt.datetime.now(dt.UTC)),
            "region": region, "resources": [execution["executionArn"]],
            "detail": {
                "executionArn": execution["executionArn"], "stateMachineArn": execution["stateMachineArn"],
                "name": execution.get("name"), "status": execution["status"],
                "startDate": millis(execution.get("startDate")), "stopDate": millis(stopped),
                "input": execution.get("input"), "output": execution.get("output"),
                "inputDetails": {"included": execution.get("input") is not None}, "outputDetails": None,
                "error": execution.get("error"), "cause": execution.get("cause"),
            },
        }  # fmt: skip

    def poll_once(self) -> list[Delivery]:
        """One round over every rule (one round at a time: a caller's and the background thread's)."""
        with self._lock:
            delivered = self._round()
            self.deliveries.extend(delivered)
        return delivered

    def _from_journal(self) -> list[tuple[str, str, str]] | None:
        """What ended since the last round and what to try again, or None: list this round."""
        if self.ended is None:
            return None
        got = self.ended(self._cursor) if self._cursor is not None else None
        if got is None:  # first round, or the journal dropped entries unread: list, from the position before
            start = self.ended(None)
            self._cursor = start[0] if start is not None else None
            return None
        self._cursor, new = got
        return list({entry[0]: entry for entry in [*self._retry, *new]}.values())  # an execution once a round

    def _listed(self, sfn: Any, machines: list[str], statuses: list[str]) -> list[tuple[str, str, str]]:
        found = []
        for machine in machines:
            for status in statuses:
                pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter=status)
                try:
                    found += [
                        (e["executionArn"], machine, status) for page in pages for e in page.get("executions", [])
                    ]
                except sfn.exceptions.StateMachineDoesNotExist:  # a rule naming a deleted machine: nothing ends
                    break
        return found

    def _round(self) -> list[Delivery]:
        sfn = self.clients("stepfunctions")
        rules = self.status_rules()  # first: a change of the rules makes this round list
        journal = self._from_journal()
        if journal is None:
            self.listings += 1
        try:
            return self._deliver(sfn, rules, journal)
        except BaseException:
            # listing or a call for a rule failed: nothing read is dropped. The next round lists again, or takes
            # what this round read of the journal again (what was delivered is skipped: deliveries are remembered)
            if journal is None or len(journal) > KEEP_RETRIES:
                self._cursor, self._retry = None, []
            else:
                self._retry = journal
            raise

    def _deliver(
        self, sfn: Any, rules: list[dict[str, Any]], journal: list[tuple[str, str, str]] | None
    ) -> list[Delivery]:
        delivered: list[Delivery] = []
        retry: dict[str, tuple[str, str, str]] = {}
        for rule in rules:
            detail = rule["pattern"].get("detail", {})
            statuses = detail.get("status", ["FAILED", "TIMED_OUT", "ABORTED"])
            machines = detail.get("stateMachineArn") or [
                m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
            ]
            if journal is None:
                ended = self._listed(sfn, machines, statuses)
            else:
                ended = [e for e in journal if e[1] in machines and e[2] in statuses]
            region, account = _rule_region_account(rule["Arn"])
            targets = rule["targets"]
            for entry in ended:
                key = (rule["Name"], entry[0])
                if key in self._done:
                    continue
                try:
                    described = sfn.describe_execution(executionArn=entry[0])
                except sfn.exceptions.ExecutionDoesNotExist:  # gone with its state machine: nothing to deliver
                    self._done.add(key)
                    continue
                except Exception as exc:  # noqa: BLE001 - an AWS call failed: this one next round, the rest go on
                    self.failed_describes += 1
                    if entry[0] not in self._retry_logged:  # once an execution: it is tried every round
                        self._retry_logged.add(entry[0])
                        _log.warning("status events: DescribeExecution failed (%s); tried again next round",
                                     type(exc).__name__)  # fmt: skip
                    retry[entry[0]] = entry
                    continue
                event = self.event(described, region, account)
                results = [_invoke(self.registry, rule["Name"], t, event) for t in targets]
                delivered.extend(results)
                attempts = self._attempts.get(key, 0) + 1
                self._attempts[key] = attempts
                if all(r.ok for r in results) or attempts >= self.ATTEMPTS:
                    self._done.add(key)
                else:
                    retry[entry[0]] = entry
        self._retry = list(retry.values())
        return delivered

    def tick(self) -> float:
        self.poll_once()
        return self.interval
