"""`make test` runs the suite on two worker processes (pytest-xdist, ``-n 2``).

The controller sets xdist's distribution to ``--dist loadfile --no-loadscope-reorder``, whatever the command
line asked:

- **Each file runs whole on one worker** (``loadfile``), so its module-scoped fixtures (a dbt build, a
  Terraform-provisioned stack) are set up once.
- **The files go out in collection order** (``--no-loadscope-reorder``). ``pytest_collection_modifyitems``
  below puts the files that use the local stack after all the others, and the controller hands out files in
  that order. So a worker that has started its session's stack never runs a file that needs no stack
  afterwards. Such files may use moto in-process (``mock_aws``), which resets every moto backend of the
  process, the stack's included. Should one come anyway, its tests fail saying why (``pytest_runtest_setup``).
- **Each worker has its own session fixtures** (stack, PostgreSQL, SparkSession): nothing is shared but the
  machine. Their ports, homes and data directories are fresh and free.
- **One process for the whole run** starts what a file needs before the run reaches it: the controller (or the
  one process of a plain ``pytest``). That is the Terraform-provisioned stack (tests/terraform_stack.py). Its
  home is named after the run's id (``shared_dir``), so whichever worker runs the file finds it.

A plain ``pytest`` (one process, the way to run one file or one test) runs the same tests in the same order.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest


def is_worker(config: pytest.Config) -> bool:
    """This process is a pytest-xdist worker."""
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """This process distributes the tests to workers and runs none itself (xdist's own test of it)."""
    option = config.option
    return not is_worker(config) and getattr(option, "dist", "no") != "no" and bool(getattr(option, "tx", None))


def run_id(config: pytest.Config) -> str | None:
    """The id the controller and its workers share (None in a plain run)."""
    if is_worker(config):
        return str(config.workerinput["testrunuid"])  # type: ignore[attr-defined]
    if is_controller(config):
        return str(config.option.testrunuid)
    return None


def shared_dir(config: pytest.Config, name: str) -> Path | None:
    """A folder path every process of this parallel run names the same way (None in a plain run)."""
    uid = run_id(config)
    return Path(tempfile.gettempdir()) / f"{name}-{uid}" if uid else None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not is_controller(config):
        return
    # the order above holds only this way, whatever the command line asked (a bare `-n 2` is xdist's "load",
    # which splits a file between workers; "loadfile" alone sorts the files by their number of tests)
    config.option.dist, config.option.loadscopereorder = "loadfile", False
    # the run's id, fixed now (xdist would make one up later), so that the controller can name shared folders
    if not config.option.testrunuid:
        config.option.testrunuid = uuid.uuid4().hex


def worker_name() -> str:
    """``gw0``, ``gw1``... in a worker; ``main`` in a plain run (for names that must differ between workers)."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Test files that need no local stack run first, those that use it after, each file in one piece.

    Some tests use moto in-process (``mock_aws``), which resets every moto backend
    of this process when it starts and stops, the running stack's included.
    Running them all before the session's stack is first created keeps the two
    apart. A file goes to the stack group when any of its tests uses the stack,
    so that its module-scoped fixtures (a Terraform-provisioned stack, a dbt
    build) are set up once, not once per group; the order inside each group is kept.
    """
    uses_stack = {item.path for item in items if "stack" in getattr(item, "fixturenames", ())}
    items.sort(key=lambda item: item.path in uses_stack)
    _STACK_FILES.clear()
    _STACK_FILES.update(uses_stack)


#: the files that use the session's stack (set at collection), and whether this process has started it
_STACK_FILES: set[Path] = set()
_STACK_STARTED: list[bool] = []


def stack_starting() -> None:
    """Called by the ``stack`` fixture before it starts the stack: from now on only stack files may run here."""
    _STACK_STARTED.append(True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A file that needs no stack, run after this process started one (a reordering option such as ``--ff``, a
    crashed worker's files handed to another): it fails at once, saying why, rather than let ``mock_aws`` reset
    the running stack under the tests that follow."""
    if _STACK_STARTED and item.path not in _STACK_FILES:
        pytest.fail(
            f"{item.nodeid} needs no local stack but runs after this process started one: moto in-process "
            "(mock_aws) would reset it. Run the files in collection order (tests/parallel.py).",
            pytrace=False,
        )
