"""MTX_LOCAL_PROCESSES: moto (with the Step Functions interpreter) in a process of its own, every Lambda invocation
in a worker process, and what AWS keeps of the functions (metric lines, trace segments) still kept.

What could fail: the interpreter's tasks run in place (no worker), an invocation lost or run twice, the
workers' EMF lines or Lambda's segments not reaching the stack's files, a transaction not stored.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

COUNT = 4
FUNCTIONS = ("validate_transaction", "check_item", "enrich_transaction", "store_compliance", "strip_pii",
             "store_analytics")  # fmt: skip


def test_a_stack_on_several_processes_runs_the_transaction_path() -> None:
    home = Path(tempfile.mkdtemp(prefix="mtx-test-procs-"))
    home.chmod(0o755)  # PostgreSQL runs as an unprivileged user
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.integration.local_processes_probe", str(home), str(COUNT)],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)  # the probe stopped its stack; its home was left behind every run
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["moto_pid"] not in (None, got["stack_pid"])
    assert len(got["worker_pids"]) >= 1
    assert not {got["stack_pid"], got["moto_pid"]} & set(got["worker_pids"])
    assert (got["stored"], got["failed"], got["rows"]) == (COUNT, 0, COUNT)
    prefix = got["function_names"]["validate"].removesuffix("validate-transaction")
    for short in FUNCTIONS:
        name = prefix + short.replace("_", "-")
        assert got["invocations"].get(name) == COUNT, (name, got["invocations"])
        assert got["lambda_segments"].count(name) == COUNT, name
    assert got["metrics"].get("TransactionsStored") == COUNT
    # what the stack reads of the child over the pipe: the journal of ended executions, the count of stream puts
    assert got["journalled"] == ["SUCCEEDED"] * COUNT
    assert got["status_listings"] == 1  # the status-change rules listed executions once, then read the journal
    assert got["stream_puts"] == 2 and got["stream_records_done"] == 2
    assert got["stream_skipped_rounds"] > 0  # the idle stream was not read; the count sent the poller to it
