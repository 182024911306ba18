"""The CLI as a user runs it: `mtx up` in the background, psql and the aws CLI against it, `mtx down`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import stack_env

pytestmark = pytest.mark.e2e

MTX = [sys.executable, "-m", "orchestration.cli"]


def _home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="mtx-e2e-"))
    home.chmod(0o755)
    return home


def _postgres_pids(home: Path) -> list[int]:
    pid_file = home / "pg" / "data" / "postmaster.pid"
    return [int(pid_file.read_text().split()[0])] if pid_file.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def running_stack() -> Iterator[tuple[Path, dict[str, str]]]:
    home = _home()
    proc = subprocess.Popen(
        [*MTX, "--home", str(home), "up"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 180
        while not (home / "stack.env").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "mtx up did not come up"
            time.sleep(0.3)
        env = stack_env(home)
        yield home, env
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def test_up_status_psql_aws_send_dlq_down(running_stack: tuple[Path, dict[str, str]]) -> None:
    home, env = running_stack
    status = subprocess.run([*MTX, "--home", str(home), "status"], capture_output=True, text=True, check=False)
    assert status.returncode == 0 and "running" in status.stdout

    psql = shutil.which("psql")
    assert psql, "psql is part of the PostgreSQL install this project needs"
    out = subprocess.run(
        [psql, env["MTX_COMPLIANCE_DSN"], "-tAc", "select 1"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1"

    if shutil.which("aws"):
        ls = subprocess.run(
            ["aws", "s3", "ls"],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        assert "mtx-local-analytics" in ls.stdout
    else:  # the same request with boto3 where the aws CLI is not installed
        import boto3

        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
        assert "mtx-local-analytics" in {b["Name"] for b in s3.list_buckets()["Buckets"]}

    sample = home / "sample.ndjson"
    subprocess.run(
        [*MTX, "generate", "--count", "40", "--invalid-share", "0.25", "--duplicate-share", "0", "--seed", "5",
         "--out", str(sample)],
        check=True, capture_output=True,
    )  # fmt: skip
    sent = subprocess.run([*MTX, "--home", str(home), "send", str(sample)], capture_output=True, text=True, check=True)
    summary = json.loads(sent.stdout.strip().splitlines()[-1])
    assert summary["sent"] == 40 and summary["accepted"] + summary["rejected"] == 40 and summary["rejected"] > 0

    deadline = time.monotonic() + 120
    while True:
        listed = subprocess.run([*MTX, "--home", str(home), "dlq", "list"], capture_output=True, text=True, check=True)
        n = int(listed.stdout.strip().splitlines()[-1].split()[0])
        if n >= summary["rejected"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "InvalidTransaction" in listed.stdout

    # the crawler through the stack's Glue API, as the refresh starts it (the stack runs the local crawler behind it)
    crawled = subprocess.run([*MTX, "--home", str(home), "glue", "crawl"], capture_output=True, text=True, check=False)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert crawled.stdout.strip() == "mtx-local-transactions-crawler: SUCCEEDED"

    pg_pids = _postgres_pids(home)
    assert pg_pids and all(_alive(p) for p in pg_pids)
    down = subprocess.run([*MTX, "--home", str(home), "down"], capture_output=True, text=True, check=True)
    assert "stopped" in down.stdout
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pg_pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pg_pids), "PostgreSQL left running after mtx down"
    assert not (home / "stack.json").exists()


def test_demo_runs_end_to_end_and_cleans_up() -> None:
    home = _home()
    try:
        out = subprocess.run(
            [*MTX, "--home", str(home), "demo", "--count", "150"], capture_output=True, text=True, timeout=900,
            check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert "invariant            stored + duplicates + dead-lettered = sent: OK" in out.stdout
        assert "valid dead-lettered  0\n" in out.stdout
        # the stream path beside the per-transaction one: part of the data through POST /events, each record
        # stored or dead-lettered once by the local event source mapping
        stream = re.search(r"stream \(POST /events\) sent (\d+) in \d+ requests .*, stored (\d+), dead-lettered (\d+),"
                           r" refused 0, failed 0", out.stdout)  # fmt: skip
        assert stream, out.stdout[-3000:]
        sent, stored, dead_lettered = (int(n) for n in stream.groups())
        assert sent > 0 and stored > 0 and stored + dead_lettered == sent
        assert "stream invariant     stored + dead-lettered = sent: OK" in out.stdout
        # the contract's rejects are in the dead-letter queue, accounted for: nothing is unaccounted after the refresh
        assert re.search(r"data integrity: ok  \(stored \d+, dead-lettered \d+, unaccounted 0\)", out.stdout), (
            out.stdout[-3000:]
        )
        # where the docs are: the dbt docs as one static file (opens from disk, offline), the Data Docs
        assert re.search(r"dbt docs: +\S+static_index\.html", out.stdout), out.stdout[-3000:]
        assert re.search(r"Data Docs: +\S+index\.html", out.stdout)
        assert "stopped" in out.stdout
        assert not _postgres_pids(home / "demo")
    finally:
        shutil.rmtree(home, ignore_errors=True)
