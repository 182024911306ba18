"""The Terraform-provisioned local stack, started in the background as soon as the run knows it needs it.

`mtx up --terraform` (terraform apply of infra/terraform/envs/local against its own moto
server) takes about three minutes, most of it spent waiting on the provider's polls. When
tests/e2e/test_terraform_local_stack.py is among the collected tests, the apply starts
right after collection in a child process and overlaps the tests that run before that
file; its ``tf_stack`` fixture then only waits for it. Whatever happens, the child is
stopped at the end of the run.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestration.runtime import terraform
from orchestration.runtime.stack import read_state
from tests.helpers import stack_env

MTX = [sys.executable, "-m", "orchestration.cli"]
TERRAFORM_TESTS = "test_terraform_local_stack.py"


class TerraformStack:
    """One `mtx up --terraform` child process, its home and its log."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.home: Path | None = None
        self.started_at = 0.0

    def start(self) -> None:
        if self.proc is not None or terraform.unavailable():
            return
        self.home = Path(tempfile.mkdtemp(prefix="mtx-e2e-tf-"))
        self.home.chmod(0o755)
        log = (self.home / "mtx-up.log").open("wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([*MTX, "--home", str(self.home), "up", "--terraform"], stdout=log, stderr=log)

    def wait(self, timeout: float = 1200) -> tuple[dict[str, Any], dict[str, str]]:
        reason = terraform.unavailable()
        if reason:
            pytest.skip(f"terraform apply of envs/local not run: {reason}")
        self.start()
        assert self.proc is not None and self.home is not None
        deadline = self.started_at + timeout
        while not (self.home / "stack.env").exists():
            if self.proc.poll() is not None:
                pytest.fail(f"mtx up --terraform exited {self.proc.returncode}:\n{self.log()}")
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


_TERRAFORM_STACK = TerraformStack()


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.path.name == TERRAFORM_TESTS for item in session.items):
        _TERRAFORM_STACK.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    _TERRAFORM_STACK.stop()


@pytest.fixture(scope="module")
def tf_stack() -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """(stack.json of the Terraform-provisioned stack + its home, its stack.env), up until the module ends."""
    try:
        yield _TERRAFORM_STACK.wait()
    finally:
        _TERRAFORM_STACK.stop()
