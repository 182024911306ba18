"""The Terraform-provisioned local stack, started in the background as soon as the run knows it needs it.

`mtx up --terraform` (terraform apply of infra/terraform/envs/local against its own moto
server) takes about three minutes, most of it spent waiting on the provider's polls. When
tests/e2e/test_terraform_local_stack.py is among the collected tests, the apply starts
right after collection in a child process and overlaps the tests that run before that
file; the ``tf_stack`` fixture (tests/e2e/conftest.py) then only waits for it. Whatever
happens, the child is stopped at the end of the run.

A plugin (tests/conftest.py loads it), so that in a parallel run (tests/parallel.py) the controller, which
loads no conftest below tests/, starts it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from orchestration.runtime import terraform
from orchestration.runtime.stack import read_state
from tests import parallel
from tests.helpers import stack_env

MTX = [sys.executable, "-m", "orchestration.cli"]
TERRAFORM_TESTS = "test_terraform_local_stack.py"
PID_FILE = "mtx-up.pid"


class TerraformStack:
    """One `mtx up --terraform` child process, its home and its log.

    In a parallel run (tests/parallel.py) the controller starts it in a home every worker can name; the
    worker that runs the file waits for that home's ``stack.env`` and stops the child by the pid it wrote.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.home: Path | None = None
        self.started_at = 0.0
        self.shared = False  # a worker of a parallel run: the controller started it

    def start(self, home: Path | None = None) -> None:
        if self.proc is not None or terraform.unavailable():
            return
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)  # a run id given again (--testrunuid): nothing stale is read
            home.mkdir(mode=0o755)
            self.home = home
        else:
            self.home = Path(tempfile.mkdtemp(prefix="mtx-e2e-tf-"))
        self.home.chmod(0o755)
        log = (self.home / "mtx-up.log").open("wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([*MTX, "--home", str(self.home), "up", "--terraform"], stdout=log, stderr=log)
        written = self.home / f"{PID_FILE}.tmp"
        written.write_text(str(self.proc.pid))
        written.replace(self.home / PID_FILE)  # whole or absent for a worker reading it

    def use(self, home: Path) -> None:
        """Wait for the stack another process of this run started in ``home``."""
        self.home, self.shared, self.started_at = home, True, time.monotonic()

    def _exited(self) -> int | None:
        """The child's exit code, -1 when a worker sees the controller's child gone, None while it runs."""
        if not self.shared:
            return self.proc.poll() if self.proc is not None else -1
        pid = self._pid()
        return -1 if pid is None or not _alive(pid) else None

    def _pid(self) -> int | None:
        path = self.home / PID_FILE if self.home else None
        return int(path.read_text()) if path and path.exists() else None

    def wait(self, timeout: float = 1200) -> tuple[dict[str, Any], dict[str, str]]:
        reason = terraform.unavailable()
        if reason:
            pytest.skip(f"terraform apply of envs/local not run: {reason}")
        if not self.shared:
            self.start()
        assert self.home is not None
        deadline = self.started_at + timeout
        while not (self.home / "stack.env").exists():
            if self.shared and not (self.home / PID_FILE).exists():
                assert time.monotonic() < deadline, f"no mtx up --terraform was started in {self.home}"
            elif (code := self._exited()) is not None:
                pytest.fail(f"mtx up --terraform exited {code}:\n{self.log()}")
            assert time.monotonic() < deadline, f"mtx up --terraform did not come up in {timeout:.0f} s"
            time.sleep(1)
        state = read_state(self.home)
        assert state is not None
        state["home"] = str(self.home)
        return state, stack_env(self.home)

    def log(self) -> str:
        path = self.home / "mtx-up.log" if self.home else None
        return path.read_text(errors="replace")[-8000:] if path and path.exists() else ""

    def stop(self) -> None:
        if self.shared:  # the controller's child: stopped by its pid (the controller reaps it and removes the home)
            pid = self._pid()
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 120
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.5)
            return
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


def _alive(pid: int) -> bool:
    """The process runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


TERRAFORM_STACK = TerraformStack()


def pytest_configure(config: pytest.Config) -> None:
    home = parallel.shared_dir(config, "mtx-e2e-tf")
    if parallel.is_worker(config) and home is not None:
        TERRAFORM_STACK.use(home)


def pytest_collection_finish(session: pytest.Session) -> None:
    # a plain run: start it as soon as the run knows it needs it
    if not parallel.is_worker(session.config) and any(item.path.name == TERRAFORM_TESTS for item in session.items):
        TERRAFORM_STACK.start()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    # the controller of a parallel run: start it when the first worker's collection holds the file
    if any(TERRAFORM_TESTS in nodeid for nodeid in ids):
        TERRAFORM_STACK.start(parallel.shared_dir(node.config, "mtx-e2e-tf"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not parallel.is_worker(session.config):
        TERRAFORM_STACK.stop()
