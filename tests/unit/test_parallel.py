"""`make test`'s two workers (tests/parallel.py): a worker that started the session's stack never runs a file that
needs none afterwards, and every process of a parallel run names a shared folder the same way.

A small suite runs under pytest-xdist as `make test` runs it: files that need no stack stand for the ``mock_aws``
tests (each checks that no stack was started in its process), files that use a ``stack`` fixture start one per
worker. The suite's own conftest records which process ran what."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


def make_test_args() -> tuple[str, ...]:
    """The workers `make test` asks for (the plugin sets the distribution itself)."""
    makefile = (ROOT / "Makefile").read_text()
    workers = re.search(r"^TEST_WORKERS \?= (\d+)$", makefile, re.M)
    assert workers and "-m pytest --durations=15 -n $(TEST_WORKERS)" in makefile
    return ("-n", workers[1])


CONFTEST = """
import json, os
from pathlib import Path

import pytest

from tests import parallel

STARTED = []
LOG = Path(os.environ["RUN_LOG"])


def record(**fields):
    with LOG.open("a") as f:
        f.write(json.dumps({"worker": parallel.worker_name(), **fields}) + "\\n")


@pytest.fixture(scope="session")
def stack():
    parallel.stack_starting()
    STARTED.append(True)
    record(event="stack started")
    return "stack"


@pytest.fixture(scope="session")
def no_stack_yet():
    return STARTED


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    record(event="controller", shared=str(parallel.shared_dir(node.config, "mtx-x")))


def pytest_configure(config):
    if parallel.is_worker(config):
        record(event="worker", shared=str(parallel.shared_dir(config, "mtx-x")))
"""

PLAIN = """
import time

def test_{i}_a(no_stack_yet):
    time.sleep(0.5)  # slower than a stack file: the other worker asks for its next file first
    assert not no_stack_yet, "a file without the stack ran after this process started one"

def test_{i}_b(no_stack_yet):
    assert not no_stack_yet
"""

STACK = """
def test_{i}_a(stack):
    pass

def test_{i}_b():
    pass

def test_{i}_c():  # three tests a file, two in the others: xdist's reordering by test count would mix them
    pass
"""


def _events(log: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, files: int, conftest: str = CONFTEST) -> Path:
    """``files`` test files, interleaved by name as the real suite's folders interleave them (the plugin's
    collection hook reorders them): even ones without the stack, odd ones with it. Returns the run's log."""
    log = pytester.path / "run.log"
    monkeypatch.setenv("RUN_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(conftest)
    for i in range(files):
        pytester.makepyfile(**{f"test_{i}_{'stack' if i % 2 else 'plain'}": (STACK if i % 2 else PLAIN).format(i=i)})
    return log


def test_workers_run_stack_files_last_and_share_folder_names(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _suite(pytester, monkeypatch, 8)
    result = pytester.runpytest_subprocess("-p", "tests.parallel", "-p", "no:cacheprovider", *make_test_args())
    result.assert_outcomes(passed=20)
    events = _events(log)
    workers = {e["worker"] for e in events if e["event"] == "worker"}
    assert workers == {"gw0", "gw1"}, events
    # the controller and both workers name the run's shared folder alike, and it is the run's own
    shared = {e["shared"] for e in events if e["event"] in ("controller", "worker")}
    assert len(shared) == 1 and shared != {"None"}, events
    # the same suite again: another run, another folder
    log.unlink()
    pytester.runpytest_subprocess("-p", "tests.parallel", "-p", "no:cacheprovider", *make_test_args()).assert_outcomes(
        passed=20
    )
    assert {e["shared"] for e in _events(log) if e["event"] == "controller"}.isdisjoint(shared)


def test_without_the_plugin_a_worker_runs_a_plain_file_after_its_stack(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: with the files in name order (no reordering hook), one worker starts its stack
    and then gets a file without one."""
    _suite(pytester, monkeypatch, 8)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *make_test_args())
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) > 0, result.stdout.str()[-2000:]


def test_a_file_without_the_stack_after_it_fails_saying_why(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of order anyway (here a hook that reverses the plugin's order; in life ``--ff`` or a crashed worker's
    files): the tests of a file without the stack fail at once, and say why, instead of resetting the stack."""
    reversing = CONFTEST + (
        "\n\n@pytest.hookimpl(trylast=True)\ndef pytest_collection_modifyitems(items):\n    items.reverse()\n"
    )
    _suite(pytester, monkeypatch, 2, reversing)
    result = pytester.runpytest_subprocess("-p", "tests.parallel", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(["*test_0_plain.py::test_0_b needs no local stack but runs after this process*"])
