"""``docs/cli.md``, written from the ``mtx`` parser itself and the exit-code module.

``python -m orchestration.cli.docs`` writes the page (``make schema`` runs it); ``--check`` exits 1 when the page
no longer matches the parser or the exit codes (``tests/unit/test_cli_output.py`` runs the same check, so a new
option or command with a stale page fails the tests).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestration.cli.exit_codes import EXITS, MEANING, ExitCode
from orchestration.cli.main import build_parser
from orchestration.generated import write_or_check
from orchestration.settings import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "cli.md"
WIDTH = 110  # usage lines are wrapped at this width, whatever the terminal that runs the generator

INTRO = """# The `mtx` command line

Generated from the parser (`orchestration/cli/main.py`) and the exit codes (`orchestration/cli/exit_codes.py`)
by `python -m orchestration.cli.docs` (`make schema`); a unit test fails when this page is out of date.

`mtx` runs the local stack and the tools around it. Install it with `make venv` (`.venv/bin/mtx`), or run
`python -m orchestration.cli`.

## Output

- For people: tables and summaries on stdout, progress bars, spinners and notes on stderr (drawn by
  [rich](https://rich.readthedocs.io)). Where stdout is not a terminal (a CI log, a pipe) the same text comes
  without colour or cursor movement, lines up to 200 characters wide so that a table row stays on one line,
  and a progress bar is printed once, when it ends. `NO_COLOR` and `COLUMNS` are honoured.
- For programs: `--json` (on every command marked *json* below) prints exactly one JSON document on stdout and
  nothing else there; progress and notes still go to stderr. A command that ends without its result
  (exit code 2 or 3, or a refused request) prints `{"error": {"exit_code": N, "kind": "...", "message": "..."}}`
  instead.
- Nothing printed carries a value of a transaction: ids, counts, error classes and reasons that name a field
  and a rule.
"""


def _exit_table() -> Iterator[str]:
    yield "## Exit codes"
    yield ""
    yield "| code | name | meaning |"
    yield "| ---: | --- | --- |"
    for code, meaning in MEANING.items():
        yield f"| {int(code)} | `{code.name}` | {meaning} |"
    yield ""
    yield "Argparse's own errors (an unknown option, a missing argument) exit 2 as well."
    yield ""


def _default(action: argparse.Action) -> str:
    value: Any = action.default
    if value in (None, False, "", argparse.SUPPRESS) or isinstance(action, argparse._HelpAction):
        return ""
    if isinstance(value, Path):
        value = value.relative_to(REPO_ROOT) if value.is_relative_to(REPO_ROOT) else value
    if isinstance(value, list | tuple):
        return ""
    return f"`{value}`"


def _name(action: argparse.Action) -> str:
    if action.option_strings:
        flags = ", ".join(action.option_strings)
        takes = action.nargs != 0
        metavar = action.metavar or (action.dest.upper() if takes else "")
        return f"`{flags}{' ' + str(metavar) if takes and not action.choices else ''}`"
    choices = " (" + " \\| ".join(str(c) for c in action.choices) + ")" if action.choices else ""
    return f"`{action.metavar or action.dest}`{choices}"


def _options(parser: argparse.ArgumentParser) -> Iterator[str]:
    rows = [a for a in parser._actions if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)]
    if not rows:
        return
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    yield "| argument | default | what |"
    yield "| --- | --- | --- |"
    for action in rows:
        choices = ""
        if action.option_strings and action.choices:
            choices = " One of: " + ", ".join(f"`{c}`" for c in action.choices) + "."
        what = (formatter._expand_help(action) if action.help else "").replace("|", "\\|").replace("\n", " ")
        yield f"| {_name(action)} | {_default(action)} | {what}{choices} |"


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def page() -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    lines = [INTRO, *_exit_table(), "## Options of every command", "", *_options(parser), "", "## Commands", ""]
    lines += ["| command | json | exit codes | what |", "| --- | :-: | --- | --- |"]
    for name, command in sub.choices.items():
        json_flag = "--json" in command._option_string_actions
        numbers = ", ".join(str(int(c)) for c in EXITS.get(name, (ExitCode.OK,)))
        lines.append(f"| [`{name}`](#mtx-{name}) | {'json' if json_flag else ''} | {numbers} | {helps.get(name, '')} |")
    lines.append("")
    for name, command in sub.choices.items():
        lines += [f"### mtx {name}", "", helps.get(name, ""), "", "```", _usage(command), "```", ""]
        options = list(_options(command))
        lines += [*options, ""] if options else []
        codes = EXITS.get(name, (ExitCode.OK,))
        lines += ["Exit codes: " + ", ".join(f"{int(c)} ({c.name})" for c in codes) + ".", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(PAGE, page, "python -m orchestration.cli.docs", __doc__ or "", argv)


if __name__ == "__main__":
    raise SystemExit(main())
