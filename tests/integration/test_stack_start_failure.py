"""A local stack whose start fails half way stops what it had started: nobody holds it to stop it later
(`with LocalStack()` gets no __exit__ when __enter__ raises), so PostgreSQL would outlive the process."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from orchestration.runtime.stack import LocalStack

pytestmark = pytest.mark.integration


def test_a_failed_start_stops_the_postgresql_it_started() -> None:
    home = Path(tempfile.mkdtemp(prefix="mtx-failing-"))  # reachable by the postgres user, as the stacks' homes
    home.chmod(0o755)
    try:
        stack = LocalStack(home=home, provisioner="no-such-provisioner", name_prefix="mtx-failing")
        with pytest.raises(ValueError, match="provisioner"):  # raised after PostgreSQL and moto started
            stack.start()
        assert stack.pg.initialised()  # it had started
        assert not (stack.pg.data_dir / "postmaster.pid").exists() and not stack.pg.running()
        assert not stack.state_file.exists()
    finally:
        shutil.rmtree(home, ignore_errors=True)
