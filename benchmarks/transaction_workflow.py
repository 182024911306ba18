"""The per-transaction path, locally: executions of the transaction state machine, 8 at a time.

Floor, same run, same kind of transactions: the same Lambda handlers called directly at the same
concurrency through the local runtime's dispatch (``REGISTRY.invoke``: validate, check item, store
compliance, strip PII, store analytics), without the state machine. Wall, and CPU by owner
(benchmarks/cpu.py): the handlers' calls are the product's; the entrance (validation + StartExecution, API
Gateway's work in AWS, through the stack's in-process clients as the API stand-in makes it) is charged to the
emulator; waiting for the executions to end is the driver's (the interpreter's journal of ended executions:
``_Ends``). The throughput phase is timed from the first start to the last end; each execution's outcome is then
read (a DescribeExecution each) after the phase, as the floor checks its calls' answers inline.

Also a rate-over-time probe: N executions by 8 workers, each starting one and waiting for it to end, and
the rate of the first ``window`` completions against the last ``window`` (the issue's target: no slowdown
with execution count). N: ``MTX_BENCH_TX_PROBE`` (default 2,000; 20,000 for the issue's target), window
min(1,000, N / 4).

The floor and the throughput phase are measured in interleaved rounds (``MTX_BENCH_TX_ROUNDS``, default 3:
floor, workflow, floor, workflow...), each round a share of the transactions, and summed: a moment when the box
is slow or fast falls on both sides of the ratio, not on one. Each round's own ratio is reported too (their
spread is the measurement's noise).

Size of the throughput phases: ``MTX_BENCH_TX_RECORDS`` (default 600). The stack runs at
``MTX_BENCH_TX_TIME_SCALE`` (default 1: Retry backoffs sleep as in AWS and in ``make run``; 0: no sleeping).
Handler invocations per execution are counted (5 when nothing is retried): a retry is a wait the rate pays.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.common import Report, bench_stack, env_int, metered, summary
from benchmarks.cpu import DRIVER, EMULATOR, Meter, Split
from benchmarks.table import Floor, Row
from orchestration.runtime.ingest import Outcomes, submit, wait_for
from orchestration.runtime.moto_process import MotoProcess
from orchestration.runtime.sfn import REGISTRY
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate

TARGET = "executions/s >= 0.6x direct"
#: the probe's workers look for their execution's end every 50 ms: at 5 ms, each of 8 workers described its
#: execution every ~5.5 ms (up to ~1,400 calls a second), served by moto on the executions' core (the closed loop ran at
#: half the throughput phase's rate); 50 ms adds at most 50 ms to a ~0.5 s execution, the same in both windows
PROBE_POLL = 0.05


#: the Lambda tasks the transaction workflow runs for a valid new transaction, in its order (the ASL's
#: happy path; tests/unit/test_bench_direct_floor.py holds this list to the ASL)
DIRECT_FUNCTIONS = (
    "validate_transaction", "check_item", "enrich_transaction", "strip_pii", "store_compliance", "store_analytics",
)  # fmt: skip


def _direct(stack: LocalStack, line: str, received_at: str, n: int) -> None:
    """One transaction through the workflow's handlers, each called with the payload its state passes."""
    import json

    s = stack.require_settings()

    def call(short: str, payload: dict[str, Any]) -> Any:
        out = REGISTRY.invoke(s.function_name(short), payload)
        assert not out.get("FunctionError"), out["Payload"]
        return out["Payload"]

    v = call("validate_transaction", {"transaction": json.loads(line), "received_at": received_at, "producer_id": None})
    call("check_item", {"transaction": v["transaction"]})
    enrichment = call("enrich_transaction", {"transaction": v["transaction"], "producer_id": v["producer_id"]})
    keys = (
        "transaction",
        "transaction_id",
        "event_date",
        "received_at",
        "producer_id",
        "message_key",
        "redrive_attempt",
    )
    stripped = call("strip_pii", {**{k: v[k] for k in keys}, "enrichment": enrichment})
    stored = call("store_compliance", {"transaction": v["transaction"], "execution_id": f"direct-{n}"})
    version = {k: stored[k] for k in ("version", "previous_status", "status_updated_at")}  # its ResultSelector
    record = {k: stripped[k] for k in ("record", "transaction_id", "event_date", "producer_id")}
    call("store_analytics", {**record, "stored": version})


def _invocations(stack: LocalStack) -> dict[str, int]:
    """Invocations so far, of this process's dispatch and of moto's process's (MTX_LOCAL_PROCESSES)."""
    counts = dict(REGISTRY.invocations)
    for name, n in (stack.moto.invocations() if isinstance(stack.moto, MotoProcess) else {}).items():
        counts[name] = counts.get(name, 0) + n
    return counts


def _since(stack: LocalStack, before: dict[str, int]) -> dict[str, int]:
    """Invocations since ``before``, by function."""
    after = _invocations(stack)
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _per_execution(stack: LocalStack, before: dict[str, int], executions: int) -> dict[str, Any]:
    return _calls_per_execution(_since(stack, before), executions)


def _calls_per_execution(calls: dict[str, int], executions: int) -> dict[str, Any]:
    total = sum(calls.values())
    return {"handler_invocations_per_execution": round(total / max(1, executions), 3),
            "handler_invocations": calls}  # fmt: skip


def _lines(n: int, seed: int) -> list[str]:
    return [r.line for r in generate(n, seed=seed, invalid_share=0.0, duplicate_share=0.0)]


class _Ends:
    """The driver's wait: which executions ended, from the stack's interpreter's journal of ended executions
    (``LocalStack.moto.ended_executions``, read in this process or over moto's pipe), then one DescribeExecution
    per ended execution for its outcome. Polling Step Functions for the ends (``wait_for``: ListExecutions
    sweeps, describes) ran on the executions' own core and took ~10 ms of CPU an execution, more than a
    state's work: the driver slowed what it measured. A journal gap (more ended meanwhile than it keeps) falls
    back to ``wait_for``."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._lock = threading.Lock()
        self._ended: set[str] = set()
        first = stack.moto.ended_executions(None)
        assert first is not None
        self._cursor: int | None = first[0]
        self.gaps = 0  # journal gaps met (each a fall back to polling): reported

    def _read(self) -> bool:
        """Take up what ended since the last read; False after a journal gap (the next read starts afresh)."""
        with self._lock:
            got = self.stack.moto.ended_executions(self._cursor)
            if got is None:
                self.gaps += 1
                fresh = self.stack.moto.ended_executions(None)
                assert fresh is not None
                self._cursor = fresh[0]
                return False
            self._cursor = got[0]
            self._ended.update(arn for arn, _machine, _status in got[1])
            return True

    def ended(self, arns: list[str], poll: float, timeout: float = 600.0) -> set[str] | None:
        """Wait until the journal shows every one of ``arns`` ended; those still running at the timeout. None
        after a journal gap: what ended meanwhile is no longer journalled (the caller asks Step Functions)."""
        pending, deadline = set(arns), time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            if not self._read():
                return None
            with self._lock:
                pending -= self._ended
            if pending:
                time.sleep(poll)
        return pending

    def wait(self, arns: list[str], poll: float, timeout: float = 600.0) -> Outcomes:
        """Wait for ``arns`` to end; their outcomes (a DescribeExecution each)."""
        start = time.monotonic()
        pending = self.ended(arns, poll, timeout)
        if pending is None:
            return wait_for(self.stack.inprocess_client, arns, timeout=max(1.0, timeout - (time.monotonic() - start)))
        out = wait_for(self.stack.inprocess_client, [a for a in arns if a not in pending], poll=poll)  # a describe each
        out.running += sorted(pending)
        return out


class _Sender:
    def __init__(self, stack: LocalStack, meter: Meter) -> None:
        self.stack, self.meter = stack, meter
        self.settings = stack.require_settings()
        self.arn = stack.state_machine_arn("transaction")
        self.ends = _Ends(stack)

    def send(self, line: str) -> str:
        with self.meter.role(EMULATOR):  # the entrance: API Gateway's validation and StartExecution
            sub = submit(line, settings=self.settings, clients=self.stack.inprocess_client, state_machine_arn=self.arn,
                         queue_url=self.stack.dead_letter_queue_url)  # fmt: skip
        assert sub.execution_arn is not None, sub.body
        return sub.execution_arn

    def one(self, line: str, poll: float = 0.005) -> float:
        """Start one execution and wait for it; the moment it was seen ended (to within ``poll`` seconds)."""
        arn = self.send(line)
        with self.meter.role(DRIVER):
            out = self.ends.wait([arn], poll=poll)
        assert out.stored, "bench transaction was not stored"
        return time.perf_counter()


def probe(sender: _Sender, n: int, concurrency: int) -> dict[str, Any]:
    """Closed loop: ``concurrency`` workers, each one execution at a time; rate of first vs last window."""
    lines = iter(_lines(n, seed=4))
    lock = threading.Lock()
    ends: list[float] = []

    def worker() -> None:
        while True:
            with lock:
                line = next(lines, None)
            if line is None:
                return
            end = sender.one(line, poll=PROBE_POLL)
            with lock:
                ends.append(end)

    before = _invocations(sender.stack)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for f in [pool.submit(worker) for _ in range(concurrency)]:
            f.result()
    calls = _per_execution(sender.stack, before, n)
    ends.sort()
    window = max(1, min(1000, n // 4))
    first = window / (ends[window - 1] - t0)
    last = window / (ends[-1] - ends[-window - 1])
    return {"executions": n, "window": window, "first_rate_per_s": round(first, 1),
            "last_rate_per_s": round(last, 1), "last_vs_first": round(last / first, 2),
            "target": "last >= 0.9x first (at N = 20,000)", **calls}  # fmt: skip


def run(report: Report, n: int | None = None, concurrency: int = 8) -> None:
    n = n or env_int("MTX_BENCH_TX_RECORDS", 600)
    probe_n = env_int("MTX_BENCH_TX_PROBE", 2000)
    scale = float(os.environ.get("MTX_BENCH_TX_TIME_SCALE", "1"))
    with bench_stack(time_scale=scale) as stack:
        meter = metered(stack)
        sender = _Sender(stack, meter)
        received_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

        # warm-up, not measured: with MTX_LOCAL_PROCESSES every Lambda worker process starts and imports the
        # handlers here (its cold start), as the one-process stack imported them before its start returned
        warm = _lines(4 * concurrency, seed=5)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(lambda i: _direct(stack, warm[i], received_at, 10**6 + i), range(2 * concurrency)))
            list(pool.map(sender.one, warm[2 * concurrency :]))

        # floor (the handlers called directly, `concurrency` at a time) and the workflow (`concurrency`
        # submitting at once), in interleaved rounds
        rounds = max(1, min(n, env_int("MTX_BENCH_TX_ROUNDS", 3)))
        floor_batch, wf_batch = _lines(n, seed=1), _lines(n, seed=3)
        lat: list[float] = []

        def direct(i: int) -> None:
            t = time.perf_counter()
            _direct(stack, floor_batch[i], received_at, i)
            lat.append(time.perf_counter() - t)

        floor, split = Split(), Split()
        arns: list[str] = []
        round_ratios: list[float] = []
        gap = False
        wf_calls: Counter[str] = Counter()  # the workflow rounds' handler invocations (the floor's are apart)
        for r in range(rounds):
            part = range(r * n // rounds, (r + 1) * n // rounds)
            with meter.phase() as floor_round, ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(direct, part))
            before = _invocations(stack)
            with meter.phase() as wf_round:
                with ThreadPoolExecutor(max_workers=concurrency) as pool:
                    started = list(pool.map(sender.send, [wf_batch[i] for i in part]))
                with meter.role(DRIVER):
                    # the round ends when its last execution has ended; the outcomes are read after all rounds
                    # (as the floor's calls check their answers inline, at no cost to anyone's rate)
                    if sender.ends.ended(started, poll=0.02, timeout=3600) is None:
                        gap = True
                        wait_for(stack.inprocess_client, started, timeout=3600)
            wf_calls.update(_since(stack, before))
            floor, split = floor + floor_round, split + wf_round
            arns += started
            round_ratios.append(round(floor_round.wall_s / wf_round.wall_s, 3))
        outcomes = (wait_for(stack.inprocess_client, arns, timeout=600) if gap
                    else sender.ends.wait(arns, poll=0.02, timeout=60))  # fmt: skip

        # the workflow, sequential: latency of one execution end to end
        wf_lat = []
        for line in _lines(min(n, 200), seed=2):
            t = time.perf_counter()
            sender.one(line)
            wf_lat.append(time.perf_counter() - t)

        calls = _calls_per_execution(dict(wf_calls), n)
        rate, floor_rate = n / split.wall_s, n / floor.wall_s
        rates = probe(sender, probe_n, concurrency)
        data: dict[str, Any] = {
            "transactions_per_phase": n,
            "lambda_processes": stack.processes,
            "time_scale": scale,
            "floor_handlers_direct": {
                "tx_per_s": round(floor_rate, 1),
                "concurrency": concurrency,
                **summary(lat),
                **floor.rounded(),
            },
            "workflow_sequential": {"executions": len(wf_lat), **summary(wf_lat)},
            "workflow_concurrent": {
                "executions_per_s": round(rate, 1),
                "concurrency": concurrency,
                "stored": len(outcomes.stored),
                "failed": len(outcomes.failed),
                **calls,
                **split.rounded(),
            },
            "ratio_workflow_vs_direct_throughput": round(rate / floor_rate, 3),
            "rounds": rounds,
            "round_ratios": round_ratios,
            "driver_journal_gaps": sender.ends.gaps,
            "rate_over_time": rates,
        }
        report.add("transaction workflow (issue 3)", data)
        extra = {"executions_per_s": round(rate, 1), "floor_tx_per_s": round(floor_rate, 1),
                 "ratio_throughput": round(rate / floor_rate, 2)}  # fmt: skip
        floors = [Floor(f"handlers called directly, {concurrency} concurrent", floor)]
        report.row(Row(f"per-transaction path, {n} executions, {concurrency} concurrent", split, floors, TARGET, extra))
        report.note(
            f"per-transaction: {rate:.1f} executions/s vs {floor_rate:.1f} direct = {rate / floor_rate:.2f}x "
            f"({rounds} interleaved rounds: {', '.join(f'{x:.2f}x' for x in round_ratios)})"
        )
        report.note(f"rate over time: first {rates['window']} {rates['first_rate_per_s']}/s, last {rates['window']} "
                    f"{rates['last_rate_per_s']}/s of {probe_n} = {rates['last_vs_first']}x")  # fmt: skip
