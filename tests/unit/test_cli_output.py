"""`mtx` output: --json on every command that reports (one JSON document on stdout, nothing else there), the
documented exit codes, text that stays readable without a terminal, and docs/cli.md in step with the parser.

No stack here: the commands that need one are run against an empty --home, where each must end with exit code 3
and, under --json, a JSON error document; tests/integration/test_cli_json.py runs some of them on the real stack."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from orchestration.cli import docs, output
from orchestration.cli.exit_codes import EXITS, MEANING, CommandError, ExitCode, StackNotRunning, partial_if
from orchestration.cli.main import build_parser, main

pytestmark = pytest.mark.unit

#: the commands that report nothing of their own, and why
NOT_REPORTING = {
    "up": "runs the stack until Ctrl-C; prints where things are",
    "api": "the same as up",
    "dbt": "dbt's own output, passed through (dbt has --log-format json)",
}

#: a command line for every command that needs a running stack (files are made in tmp_path)
NEEDS_STACK = {
    "send": ["send", "{sample}"],
    "producers": ["producers", "list"],
    "dlq": ["dlq", "list"],
    "glue": ["glue", "crawl"],
    "migrate": ["migrate"],
    "sweep": ["sweep"],
    "refresh": ["refresh"],
    "check": ["check"],
    "ingest": ["ingest", "{sample}"],
    "runs": ["runs"],
    "stream": ["stream", "{sample}"],
}


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_every_reporting_command_takes_json() -> None:
    commands = _commands()
    missing = [
        name for name, p in commands.items() if name not in NOT_REPORTING and "--json" not in p._option_string_actions
    ]
    assert missing == [], "give these `output.add_json_flag(p)` (orchestration/cli/output.py), or say here why not"
    assert set(NEEDS_STACK) <= set(commands)


@pytest.mark.parametrize("name", sorted(NEEDS_STACK))
def test_without_a_stack_json_is_an_error_document_and_exit_3(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = tmp_path / "sample.ndjson"
    sample.write_text('{"transactionId": "t-1"}\n')
    argv = [a.format(sample=sample) for a in NEEDS_STACK[name]]
    code, out, err = _run(["--home", str(tmp_path / "home"), *argv, "--json"], capsys)
    assert code == ExitCode.STACK_NOT_RUNNING == 3
    document = json.loads(out)  # the whole of stdout is one document
    assert document["error"]["exit_code"] == 3 and document["error"]["kind"] == "StackNotRunning"
    assert "mtx up" in document["error"]["message"] and "mtx up" in err
    # without --json: the same exit code, the message on stderr only
    code, out, err = _run(["--home", str(tmp_path / "home"), *argv], capsys)
    assert (code, out) == (3, "") and f"mtx {name}: no local stack is running" in err


def test_cost_json_is_the_only_thing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["cost", "--transactions", "1000", "--json"], capsys)
    assert code == 0 and json.loads(out)["transactions"] == 1000
    code, out, _ = _run(["cost", "--rate", "1000", "--rate", "5000", "--json"], capsys)
    assert code == 0 and [e["rate_per_second"] for e in json.loads(out)] == [1000, 5000]
    code, out, _ = _run(["cost", "--transactions", "1000"], capsys)
    assert code == 0 and "total" in out and "API Gateway" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_generate_json_counts_the_kinds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "g.ndjson"
    code, out, _ = _run(["generate", "-n", "50", "--seed", "4", "--out", str(target), "--json"], capsys)
    document = json.loads(out)
    assert code == 0 and document["count"] == 50 and sum(document["kinds"].values()) == 50
    assert len(target.read_text().splitlines()) == 50
    # stdout carries the records: no room for a JSON document there
    code, out, err = _run(["generate", "-n", "5", "--json"], capsys)
    assert code == ExitCode.USAGE and json.loads(out)["error"]["exit_code"] == 2 and "--out FILE" in err


def test_down_without_a_stack_reports_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--home", str(tmp_path), "down", "--json"], capsys)
    assert code == 0 and json.loads(out) == {"stopped": False, "message": "no local stack was running"}


@pytest.mark.parametrize(
    "argv",
    [
        ["cost", "--rate", "0"],
        ["dlq", "redrive", "--from-archive", "yesterday"],
        ["glue", "run", "no_such_job"],
        ["stream", "x.ndjson", "--rate", "-5"],
    ],
)
def test_a_refused_value_exits_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before any stack is looked for: a wrong command line is 2 whether a stack runs or not."""
    code, out, err = _run(["--home", str(tmp_path), *argv, "--json"], capsys)
    assert code == ExitCode.USAGE
    assert json.loads(out)["error"] == {"exit_code": 2, "kind": "UsageError", "message": err.strip().split(": ", 1)[1]}


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["runs", "--no-such-option"])
    assert exc.value.code == ExitCode.USAGE
    capsys.readouterr()


def test_the_exit_codes_are_distinct_documented_and_cover_every_command() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4]
    assert set(MEANING) == set(ExitCode) and all(MEANING.values())
    assert set(EXITS) == set(_commands()), "name each command's exit codes in orchestration/cli/exit_codes.py EXITS"
    for name, codes in EXITS.items():
        assert ExitCode.OK in codes and ExitCode.USAGE in codes, name
        # status needs none: without one it shows the last run's figures, and says so with 3
        assert (ExitCode.STACK_NOT_RUNNING in codes) == (name in NEEDS_STACK or name in ("dbt", "status")), name
    assert partial_if(0) == ExitCode.OK and partial_if(3) == ExitCode.PARTIAL
    assert StackNotRunning("x").code == 3 and CommandError("x").code == 1
    assert CommandError("x", ExitCode.PARTIAL).code == 4


def test_tables_stay_on_one_line_and_plain_without_a_terminal() -> None:
    buffer = io.StringIO()
    reason = "payment_details.card_last4: must be four digits; " * 3
    output.console(buffer).print(output.table(("id", "reason", "n"), [("t-1", reason, 12)], numeric=("n",)))
    lines = buffer.getvalue().splitlines()
    assert "\x1b[" not in buffer.getvalue()  # no colour, no cursor movement
    assert next(line for line in lines if line.startswith("t-1")).rstrip().endswith("12")  # the row is one line
    assert lines[0].split() == ["id", "reason", "n"]


def test_a_summary_has_no_trailing_blanks_in_a_log(capsys: pytest.CaptureFixture[str]) -> None:
    output.show(output.key_values([("valid dead-lettered", 0), ("invariant", "stored + dead-lettered = sent: OK")]))
    assert capsys.readouterr().out.splitlines() == [
        "valid dead-lettered  0",
        "invariant            stored + dead-lettered = sent: OK",
    ]


def test_a_progress_bar_in_a_log_is_printed_once_when_it_ends(capsys: pytest.CaptureFixture[str]) -> None:
    with output.progress(40, "sending") as advance:
        for _ in range(40):
            advance(1)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("sending") == 1 and "40/40" in err and "\r" not in err
    with output.progress(3, "quiet", enabled=False) as advance:
        advance(3)
    assert capsys.readouterr() == ("", "")


def test_the_cli_page_is_up_to_date() -> None:
    assert docs.main(["--check"]) == 0, "docs/cli.md is out of date: run `python -m orchestration.cli.docs`"


def test_the_page_check_bites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text(docs.page().replace("| 4 | `PARTIAL`", "| 5 | `PARTIAL`"))
    monkeypatch.setattr(docs, "PAGE", stale)
    assert docs.main(["--check"]) == 1
    docs.main([])
    assert docs.main(["--check"]) == 0
    text = stale.read_text()
    for name in _commands():
        assert f"### mtx {name}\n" in text
    assert "| 3 | `STACK_NOT_RUNNING` |" in text and "`--json`" in text
