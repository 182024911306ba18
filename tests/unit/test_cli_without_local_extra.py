"""The `mtx` command line needs only `[project].dependencies`: its parser, `mtx generate` and `mtx cost` run with
the local stack's packages (the `local` extra of pyproject.toml: moto, jsonata) and the analytics ones absent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
ABSENT = ("moto", "jsonata", "pgserver", "werkzeug", "pyspark", "great_expectations", "dbt")

SCRIPT = f"""
import importlib.abc, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT!r}:
            raise ImportError("not installed: " + name)
        return None

sys.meta_path.insert(0, Absent())
from orchestration.cli.main import main

assert main(["generate", "--count", "20", "--seed", "3", "--out", sys.argv[1]]) == 0
assert main(["cost"]) == 0
"""


def test_the_cli_runs_without_the_local_extra(tmp_path: Path) -> None:
    out = tmp_path / "sample.ndjson"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(out.read_text().splitlines()) == 20
    assert "USD" in done.stdout or "$" in done.stdout  # the cost table was printed
