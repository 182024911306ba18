"""`mtx ... --json` on the real local stack: one JSON document on stdout whose numbers are the stores' own, and the
documented exit codes (0 all through, 4 some records rejected). tests/unit/test_cli_output.py covers every command
without a stack."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestration.cli import dlq
from orchestration.cli import main as cli
from orchestration.runtime import auth
from orchestration.runtime.stack import LocalStack
from tests.helpers import command_output, seed_tx

pytestmark = pytest.mark.integration


@pytest.fixture
def mtx(stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> object:
    # RunningStack sets these from stack.env (unless set): whatever it sets goes again after the test
    for name in (auth.PRODUCER_ID_ENV, auth.ANALYST_KEY_ENV):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    monkeypatch.setenv(auth.PRODUCER_KEY_ENV, stack.producer_key)

    def run(*args: str) -> tuple[int, object]:
        capsys.readouterr()
        code = cli.main(["--home", str(stack.home), *args, "--json"])
        return code, json.loads(command_output(capsys.readouterr().out))  # the whole of it: one document

    return run


def test_send_json_counts_and_exit_4_when_some_are_rejected(mtx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.ndjson"
    good.write_text("".join(json.dumps(seed_tx()) + "\n" for _ in range(3)))
    code, sent = mtx("send", str(good))
    assert (code, sent) == (0, {"sent": 3, "accepted": 3, "rejected": 0, "other": 0})

    mixed = tmp_path / "mixed.ndjson"
    mixed.write_text(json.dumps(seed_tx()) + "\n" + json.dumps(seed_tx(client_ip="not an address")) + "\n{not json\n")
    code, sent = mtx("send", str(mixed))
    assert sent == {"sent": 3, "accepted": 1, "rejected": 2, "other": 0}
    assert code == 4


def test_dlq_list_runs_sweep_and_producers_as_json(mtx, stack: LocalStack) -> None:  # type: ignore[no-untyped-def]
    code, listed = mtx("dlq", "list")
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert code == 0 and listed["total"] == len(listed["dead_letters"])
    assert abs(listed["total"] - len(letters)) <= 5  # other tests' executions may still be dead-lettering
    assert set(listed) >= {"by_error", "oldest_age_seconds", "parked"}

    code, runs = mtx("runs")
    assert code == 0 and isinstance(runs["runs"], list)

    code, swept = mtx("sweep", "--older-than-minutes", "600")
    assert code == 0 and swept == {"counts": {}, "ids": {}}  # nothing is PENDING for ten hours

    code, producers = mtx("producers", "list")
    assert code == 0 and auth.DEFAULT_PRODUCER in {p["app_id"] for p in producers["producers"]}
    assert producers["count"] == len(producers["producers"]) >= producers["active"] >= 1


def test_ingest_json_exit_4_with_dead_letters_1_when_the_run_fails(mtx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"cli-json-{seed_tx()['transactionId']}"
    mixed = tmp_path / f"{name}.ndjson"
    mixed.write_text(json.dumps(seed_tx()) + "\n" + json.dumps(seed_tx(client_ip="not an address")) + "\n")
    code, run = mtx("ingest", str(mixed))
    assert (run["status"], run["records"], run["stored"], run["dead_lettered"]) == ("COMPLETED", 2, 1, 1), run
    assert code == 4

    broken = tmp_path / f"{name}.bin"
    broken.write_bytes(b"\x00\x01 not json")
    code, run = mtx("ingest", str(broken))
    assert (code, run["status"], run["error_name"]) == (1, "FAILED", "NotJsonFile")


def test_stream_json_counts_the_records_put(mtx, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = tmp_path / "stream.ndjson"
    lines.write_text("".join(json.dumps(seed_tx()) + "\n" for _ in range(4)) + "\n")
    code, done = mtx("stream", str(lines))
    assert code == 0 and (done["sent"], done["failed_puts"]) == (4, 0) and done["calls"] >= 1
