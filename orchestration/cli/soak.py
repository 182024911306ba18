"""The fault-injection soak: volume through every entrance while the stack is made to fail, then an audit.

``make soak`` (``mtx soak``) sends 20,000 transactions through the HTTP entrance and drops one file of
200,000 records (poison records among them) in the raw bucket, while the local runtime's fault injector
(:mod:`orchestration.runtime.faults`) kills PostgreSQL with kill -9 twice (then starts it: crash
recovery), answers ~2% of S3 and DynamoDB calls with throttling, 5xx or a dropped connection, fails ~1% of
SQS sends and times out ~0.5% of Lambda invocations after they ran. A smaller run of the same code is in
``make test`` (tests/integration/test_soak.py).

Then the audit (:mod:`orchestration.cli.soak_audit`) reads every store back and checks each record against
the fate the generator gave it: every valid transaction stored exactly once in the compliance store and once
in the analytics copy, every invalid one dead-lettered exactly once with a reason, every poison record
quarantined or dead-lettered alone (the rest of its chunk stored), nothing left PENDING. The last line printed is
``soak: sent N, stored S, dead-lettered D, quarantined Q, lost 0, duplicated 0, valid dead-lettered 0,
faults injected F`` (one line).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.cli import batch
from orchestration.cli.soak_audit import Poison, SoakReport, audit
from orchestration.runtime.auth import API_KEY_HEADER
from orchestration.runtime.faults import SPARED_AGENT, FaultInjector, FaultPlan
from orchestration.runtime.ingest import Clients, wait_for
from orchestration.runtime.stack import LocalStack, pid_alive, read_state
from orchestration.sample_data.generate import CATALOGUE_KINDS, VALID, generate

Progress = Callable[[str], None]


@dataclass
class SoakConfig:
    http: int = 20_000
    batch: int = 200_000
    poison: int = 30
    pg_crashes: int = 2
    pg_downtime: float = 3.0
    concurrency: int = 8
    seed: int = 20261204
    plan: FaultPlan = field(default_factory=FaultPlan)


# ---------------------------------------------------------------------------- poison records
def poison_records(template: str, n: int, seed: int) -> list[Poison]:
    """Records that break a naive loader: over the size cap, nested past any parser, not UTF-8, and
    (valid, to be stored unchanged) backslashes and quotes that a COPY text line must escape."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    base = json.loads(template)
    out: list[Poison] = []
    for i in range(n):
        kind = ("oversize", "deep", "not_utf8", "escapes")[i % 4]
        tx_id = f"poison-{kind}-{seed}-{i}"
        rec = dict(base, transactionId=tx_id)
        if kind == "oversize":
            line = json.dumps(rec | {"padding": "\t\n\\ " * rng.randint(20_000, 60_000)}).encode()
        elif kind == "deep":
            depth = rng.randint(2_000, 20_000)
            line = json.dumps(rec).encode()[:-1] + b', "nested": ' + b"[" * depth + b"]" * depth + b"}"
        elif kind == "not_utf8":
            line = json.dumps(rec).encode().replace(b'"item_name": "', b'"item_name": "\xff\xfe', 1)
        else:
            item = dict(rec["item_purchased"], item_name='Wings "deluxe" \\ edition \\\\N \\. end')
            line = json.dumps(rec | {"item_purchased": item}, ensure_ascii=False).encode()
        out.append(Poison(line, tx_id, kind))
    return out


# ---------------------------------------------------------------------------- the producer side
def _spared_clients(stack: LocalStack) -> Clients:
    """boto3 clients whose calls the injector never faults (the user's upload, the audit's reads)."""
    import boto3
    from botocore.config import Config

    s = stack.require_settings()
    config = Config(user_agent_extra=SPARED_AGENT, retries={"mode": "standard", "max_attempts": 10})
    cache: dict[str, Any] = {}
    lock = threading.Lock()

    def clients(service: str) -> Any:
        with lock:
            if service not in cache:
                session: Any = boto3.session.Session()
                cache[service] = session.client(
                    service, region_name=s.region, endpoint_url=stack.moto.endpoint_url, config=config
                )
            return cache[service]

    return clients


def post_with_retries(url: str, body: bytes, api_key: str, attempts: int = 6) -> tuple[int, dict[str, Any], int]:
    """POST as a producer does: a 5xx, 429 or dropped connection is sent again (the same transactionId:
    the entrance is idempotent). Returns status, body, retries used."""
    for attempt in range(attempts):
        req = urllib.request.Request(  # noqa: S310 - the local API's own URL
            url, data=body, method="POST", headers={"Content-Type": "application/json", API_KEY_HEADER: api_key}
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
                return resp.status, json.loads(resp.read()), attempt
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 429:
                return exc.code, json.loads(exc.read() or b"{}"), attempt
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(min(8.0, 0.2 * 2**attempt) * random.random())  # noqa: S311 - jitter, not crypto
    return 599, {}, attempts


# ---------------------------------------------------------------------------- the run
class _Crasher:
    """Kills PostgreSQL (kill -9) at the moments it is told to, then starts it again."""

    def __init__(self, stack: LocalStack, downtime: float, log: Progress) -> None:
        self.stack = stack
        self.downtime = downtime
        self.log = log
        self.crashes = 0
        self._lock = threading.Lock()

    def crash(self, why: str) -> None:
        with self._lock:
            self.log(f"  fault: kill -9 PostgreSQL ({why}), down {self.downtime:.0f} s")
            self.stack.pg.crash()
            time.sleep(self.downtime)
            self.stack.pg.restart()
            self.crashes += 1
            self.log("  fault: PostgreSQL started again (crash recovery done)")


def run_soak(stack: LocalStack, cfg: SoakConfig, log: Progress = print) -> SoakReport:
    s = stack.require_settings()
    assert stack.api is not None
    spared = _spared_clients(stack)
    records = list(generate(cfg.http, seed=cfg.seed, invalid_share=0.04, duplicate_share=0.01))
    batch_records = list(generate(cfg.batch, seed=cfg.seed + 1, invalid_share=0.02, duplicate_share=0.0))
    template = next(r.line for r in batch_records if r.kind == VALID)
    poison = poison_records(template, cfg.poison, cfg.seed + 2)
    lines: list[bytes] = [r.line.encode() for r in batch_records]
    rng = random.Random(cfg.seed)  # noqa: S311 - where poison goes, not a secret
    for p in poison:
        lines.insert(rng.randrange(len(lines) + 1), p.line)
    file_body = b"\n".join(lines) + b"\n"
    log(f"soak: {len(records)} transactions over HTTP, one file of {len(lines)} records ({len(poison)} poison)")

    injector = FaultInjector(cfg.plan)
    crasher = _Crasher(stack, cfg.pg_downtime, log)
    crash_points = [int(cfg.http * f) for f in (0.3, 0.7)[: cfg.pg_crashes]]
    statuses: list[int] = [0] * len(records)
    arns: list[str | None] = [None] * len(records)
    retries = Counter[str]()
    sent = 0
    sent_lock = threading.Lock()
    url = f"{stack.api.url}/transactions"
    file_at = cfg.http // 2
    batch_key: list[str] = []
    dropping: list[threading.Thread] = []  # the half-way drop, once started
    known: set[str] = set()
    t0 = time.monotonic()

    def drop_file() -> None:
        known.update(batch.run_ids(spared, s, "incoming/soak.ndjson"))
        batch_key.append(batch.upload_bytes(spared, s, file_body, "soak.ndjson"))
        log(f"  dropped incoming/soak.ndjson ({len(file_body) / 1e6:.0f} MB)")

    def send(i: int) -> None:
        nonlocal sent
        status, body, used = post_with_retries(url, records[i].line.encode(), stack.producer_key)
        statuses[i], arns[i] = status, body.get("executionArn")
        retries["http"] += used
        with sent_lock:
            sent += 1
            n = sent
        if n in crash_points:
            threading.Thread(target=crasher.crash, args=(f"after {n} sent",), daemon=True).start()
        if n == file_at:
            dropping.append(threading.Thread(target=drop_file, daemon=True))
            dropping[0].start()
        if n % 1000 == 0:
            log(f"  sent {n}/{len(records)} ({n / (time.monotonic() - t0):.1f}/s), faults so far {injector.total}")

    stack.moto.inject(injector)
    injector.enabled = True
    try:
        with ThreadPoolExecutor(max_workers=cfg.concurrency) as pool:
            list(pool.map(send, range(len(records))))
        if dropping:  # the drop started half-way may still be uploading: wait for it, never drop twice
            dropping[0].join()
        else:
            drop_file()
        log("  waiting for every execution and the batch run...")
        outcomes = wait_for(spared, [a for a in arns if a], timeout=7200, poll=0.5)
        run = batch.wait_for_run(spared, s, batch_key[0], timeout=7200, known=known)
        while crasher.crashes < cfg.pg_crashes:  # a crash point not reached (tiny runs): crash now
            crasher.crash("end of the load")
    finally:
        injector.enabled = False
        stack.moto.inject(None)
    elapsed = time.monotonic() - t0
    # the PENDING sweeper, as its schedule would run it once the Express limit has passed: every execution
    # has ended by now, so nothing younger than its age can still move (what it settles is counted)
    from lambdas.sweep_pending.handler import sweep

    swept = sweep(older_than_seconds=0, settings=s).as_dict()
    log(f"  load done in {elapsed:.0f} s; batch run {run.get('status')}; swept {swept.get('counts') or 'nothing'};"
        " auditing every store...")  # fmt: skip
    report = audit(stack, spared, records, statuses, arns, batch_records, poison, run, outcomes.running)
    report.faults = {**injector.summary(), "postgres.kill_9": crasher.crashes}
    report.producer_retries = retries["http"]
    report.details["seconds"] = round(elapsed, 1)
    report.details["swept"] = swept.get("counts", {})
    report.details["batch_run"] = {k: run.get(k) for k in ("status", "records", "stored", "duplicates",
                                                            "dead_lettered", "failed", "error_name")}  # fmt: skip
    return report


# ---------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--http", type=int, default=20_000, help="transactions through the HTTP entrance")
    parser.add_argument("--batch", type=int, default=200_000, help="records in the dropped file")
    parser.add_argument("--poison", type=int, default=30, help="poison records in the file")
    parser.add_argument("--time-scale", type=float, default=1.0, help="Retry/Wait sleeps of the interpreter")


def run(args: argparse.Namespace) -> int:
    from orchestration.cli import output
    from orchestration.cli.exit_codes import CommandError, ExitCode

    as_json = output.wants_json(args)
    say: Progress = output.note if as_json else (lambda m: print(m, flush=True))
    home = Path(args.home) / "soak"
    running = read_state(home)
    if running is not None and pid_alive(int(running["pid"])):
        raise CommandError(f"a soak is already running in {home} (pid {running['pid']})")
    shutil.rmtree(home, ignore_errors=True)  # a soak starts from empty stores: its audit reads all of them
    stack = LocalStack(home=home, time_scale=args.time_scale)
    say("starting the local stack (PostgreSQL, moto, API)...")
    stack.start()
    try:
        report = run_soak(stack, SoakConfig(http=args.http, batch=args.batch, poison=args.poison), log=say)
    finally:
        stack.stop()
    if as_json:
        output.emit_json({**dataclasses.asdict(report), "faults_injected": report.faults_injected, "ok": report.ok})
    else:
        print("faults injected:", json.dumps(report.faults))
        print("details:", json.dumps(report.details, default=str))
        print(report.line(), flush=True)
    return ExitCode.OK if report.ok else ExitCode.FAILED


__all__ = ["CATALOGUE_KINDS", "SoakConfig", "SoakReport", "audit", "poison_records", "run_soak"]
