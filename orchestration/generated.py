"""One entry point for the pages and files the project generates and drift-tests.

``docs/state-machines.md`` (from the ASL), ``docs/cli.md`` (from the parser) and the monitoring module's
``metrics.json`` (from the metric catalogue) are each written by a small command that can also check,
without writing, that the file on disk is what it would write (``--check``: exit 1 and say how to
regenerate).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def write_or_check(
    target: Path, render: Callable[[], str], regenerate: str, description: str, argv: list[str] | None = None
) -> int:
    """Write ``render()`` to ``target``; with ``--check``, exit 1 when the file differs (nothing written)."""
    parser = argparse.ArgumentParser(prog=regenerate, description=description)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when {target.name} is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is out of date: run `{regenerate}`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target}")
    return 0
