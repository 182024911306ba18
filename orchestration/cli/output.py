"""What ``mtx`` prints, drawn by rich: tables and key/value summaries on stdout, progress and notes on stderr;
or, with ``--json``, one JSON document on stdout and nothing else there.

Readable where there is no terminal (CI logs, pipes, ``| grep``): rich then writes plain text without colour
or cursor moves, a progress bar is printed once when it ends, and lines are drawn wide (:data:`PIPE_WIDTH`)
so that a table row stays on one line. ``NO_COLOR`` and ``COLUMNS`` are honoured as rich honours them.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

#: the width of a line when the output is not a terminal
PIPE_WIDTH = 200


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="one JSON document on stdout (progress and notes go to stderr)"
    )


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def console(stream: TextIO | None = None) -> Console:
    """A console on ``stream`` (default: the current stdout, so that a test capturing it sees the output)."""
    file = stream or sys.stdout
    try:
        terminal = file.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return Console(file=file, width=None if terminal else PIPE_WIDTH, markup=False, highlight=False, emoji=False)


def err_console() -> Console:
    return console(sys.stderr)


def emit_json(document: Any) -> None:
    """The one document of a ``--json`` run."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _plain_lines(c: Console, renderable: RenderableType) -> str:
    with c.capture() as captured:
        c.print(renderable)
    return "".join(line.rstrip() + "\n" for line in captured.get().splitlines())


def show(*renderables: RenderableType) -> None:
    """Each renderable from a new line on stdout; without a terminal, lines carry no trailing blanks (a table
    pads its cells), so that ``grep 'x$'`` and diffs of logs work."""
    c = console()
    for renderable in renderables:
        if c.is_terminal:
            c.print(renderable)
        else:
            c.file.write(_plain_lines(c, renderable))
    c.file.flush()


def plain(renderables: Iterable[RenderableType]) -> str:
    """What :func:`show` prints where there is no terminal (a log, a pipe), as one string."""
    c = console(io.StringIO())
    return "".join(_plain_lines(c, r) for r in renderables)


def note(message: str) -> None:
    """A line for the person watching (what is happening, where to look): stderr, never mixed into a result."""
    err_console().print(message)


def _titled(title: str | None, t: Table) -> RenderableType:
    """A title on its own line above the table (a rich table title would wrap at the table's width)."""
    return t if title is None else Group(Text(title, style="bold"), t)


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None, numeric: Iterable[str] = ()
) -> RenderableType:
    """Rows under a header; the ``numeric`` columns right-aligned. Cells are shown as text, never as markup."""
    right = set(numeric)
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        t.add_column(column, justify="right" if column in right else "left", overflow="fold")
    for row in rows:
        t.add_row(*("-" if value is None else str(value) for value in row))
    return _titled(title, t)


def key_values(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> RenderableType:
    """A summary: one ``name  value`` line per pair, no header."""
    t = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    t.add_column("name", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    for name, value in pairs:
        t.add_row(name, "-" if value is None else str(value))
    return _titled(title, t)


def number(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


@contextmanager
def progress(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for ``total`` steps; yields ``advance(n)``. Disabled: advance does nothing."""
    if not enabled:
        yield lambda n: None
        return
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=err_console(),
    )  # fmt: skip
    task = bar.add_task(label, total=total, rate="")
    with bar:

        def advance(n: int) -> None:
            bar.advance(task, n)
            elapsed = bar.tasks[task].elapsed or 0.0
            done = bar.tasks[task].completed
            bar.update(task, rate=f"{done / elapsed:,.0f}/s" if elapsed > 0 else "")

        yield advance


@contextmanager
def waiting(message: str) -> Iterator[None]:
    """A spinner on stderr while a command waits (a run, an execution); in a log, the message once."""
    c = err_console()
    if not c.is_terminal:
        c.print(message)
        yield
        return
    with c.status(message):
        yield
