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
    sent = subprocess.run(
        [*MTX, "--home", str(home), "send", str(sample), "--json"], capture_output=True, text=True, check=False
    )
    summary = json.loads(sent.stdout)  # --json: the whole of stdout is one document; the progress bar is on stderr
    assert summary["sent"] == 40 and summary["accepted"] + summary["rejected"] == 40 and summary["rejected"] > 0
    assert sent.returncode == 4, sent.stderr  # some records rejected: a partial run (docs/cli.md)
    assert "sending" in sent.stderr and "40/40" in sent.stderr

    deadline = time.monotonic() + 120
    while True:
        listed = subprocess.run(
            [*MTX, "--home", str(home), "dlq", "list", "--json"], capture_output=True, text=True, check=True
        )
        letters = json.loads(listed.stdout)
        if letters["total"] >= summary["rejected"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert letters["by_error"].get("InvalidTransaction", 0) > 0
    # for people: a table, one row per letter, readable in a log (no colour codes), the total last
    table = subprocess.run([*MTX, "--home", str(home), "dlq", "list"], capture_output=True, text=True, check=True)
    assert "InvalidTransaction" in table.stdout and "\x1b[" not in table.stdout
    # the total last (letters may still be arriving: at least what the JSON listing saw)
    last = re.match(r"(\d+) dead-lettered, oldest", table.stdout.strip().splitlines()[-1])
    assert last is not None and int(last.group(1)) >= letters["total"]

    # the crawler through the stack's Glue API, as the refresh starts it (the stack runs the local crawler behind it)
    crawled = subprocess.run([*MTX, "--home", str(home), "glue", "crawl"], capture_output=True, text=True, check=False)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    assert crawled.stdout.strip() == "mtx-local-transactions-crawler: SUCCEEDED"

    pg_pids = _postgres_pids(home)
    assert pg_pids and all(_alive(p) for p in pg_pids)
    stopped = subprocess.run([*MTX, "--home", str(home), "runs"], capture_output=True, text=True, check=True)
    assert stopped.stdout.split()[:2] == ["run_id", "status"]
    down = subprocess.run([*MTX, "--home", str(home), "down"], capture_output=True, text=True, check=True)
    assert "stopped" in down.stdout
    after = subprocess.run([*MTX, "--home", str(home), "runs", "--json"], capture_output=True, text=True, check=False)
    assert after.returncode == 3 and json.loads(after.stdout)["error"]["kind"] == "StackNotRunning"
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pg_pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pg_pids), "PostgreSQL left running after mtx down"
    assert not (home / "stack.json").exists()


def test_demo_runs_end_to_end_and_cleans_up() -> None:
    """`mtx demo --json`: the story a person reads goes to stderr, the summary is one JSON document on stdout."""
    home = _home()
    try:
        out = subprocess.run(
            [*MTX, "--home", str(home), "demo", "--count", "150", "--json"], capture_output=True, text=True,
            timeout=900, check=False,
        )  # fmt: skip
        story = out.stderr
        assert out.returncode == 0, story[-3000:] + out.stdout
        summary = json.loads(out.stdout)
        assert summary["ok"] is True and summary["invariant_ok"] is True and summary["valid_dead_lettered"] == 0
        assert summary["sent"] == summary["stored"] + summary["duplicates"] + summary["dead_lettered"]
        # every message as the generator labelled it: stored as its version, harmless, or dead-lettered
        assert summary["audit"] and all(check["ok"] for check in summary["audit"]), summary["audit"]
        assert summary["expected"]["stored"] == summary["stored"]
        # the stream path beside the per-transaction one: part of the data through POST /events, each record
        # stored as a version, harmless or dead-lettered once by the local event source mapping
        stream = summary["stream"]
        assert summary["sent"] + stream["sent"] == 150 and stream["sent"] > 0 and stream["stored"] > 0
        assert stream["stored"] + stream["harmless"] + stream["dead_lettered"] == stream["sent"]
        assert stream["invariant_ok"] is True and stream["stored"] == stream["expected"]["stored"]
        assert (stream["refused"], stream["failed"]) == (0, 0)
        assert re.search(r"^invariant +stored \+ harmless \+ dead-lettered = sent, as labelled: OK$", story, re.M)
        # one analytics object per stored version; status updates are versions 2 and 3 of known transactions
        assert summary["stored"] == summary["versions"] == summary["analytics_objects"]
        assert summary["compliance_rows"] < summary["versions"]
        assert int(summary["versions_by_number"].get("2", 0)) + int(stream["versions"].get("2", 0)) > 0
        assert summary["analytics"]["refresh"] == "SUCCEEDED"
        assert summary["analytics"]["data_integrity"]["unaccounted"] == 0
        assert re.search(r"^invariant +stored \+ harmless \+ dead-lettered = sent: OK$", story, re.M)
        # gross vs net revenue, from the mart and the real-time aggregates (or why not)
        assert "gross vs net revenue" in story and set(summary["analytics"]["revenue"]) >= {"mart", "realtime"}
        assert re.search(r"^valid dead-lettered +0$", story, re.M)
        # the contract's rejects are in the dead-letter queue, accounted for: nothing is unaccounted after the refresh
        assert re.search(r"data integrity: ok  \(stored \d+, dead-lettered \d+, unaccounted 0\)", story), story[-3000:]
        # where the docs are: the dbt docs as one static file (opens from disk, offline), the Data Docs
        assert re.search(r"dbt docs: +\S+static_index\.html", story), story[-3000:]
        assert re.search(r"Data Docs: +\S+index\.html", story)
        assert summary["analytics"]["dbt_docs"].endswith("static_index.html")
        assert "stopped" in story
        assert not _postgres_pids(home / "demo")
        # it ends by pointing to its report; `mtx status` shows the run after the stop (exit 3: not running)
        report = re.search(r"^report \(opens offline\): (\S+)$", story, re.M)
        assert (
            report and Path(report[1]) == Path(summary["report"]) == home.resolve() / "demo" / "report" / "index.html"
        )
        assert Path(report[1]).read_text().count("<svg") >= 4
        status = subprocess.run([*MTX, "--home", str(home), "status", "--json"], capture_output=True, text=True,
                                check=False)  # fmt: skip
        doc = json.loads(status.stdout)
        assert status.returncode == 3 and doc["stack"]["running"] is False
        assert {f["entrance"]: f["stored"] for f in doc["flow"]}["api"] == summary["stored"]
        assert doc["refresh"]["dbt"]["tests_failed"] == 0 and doc["refresh"]["data_checks"]["failed"] == 0
    finally:
        shutil.rmtree(home, ignore_errors=True)
