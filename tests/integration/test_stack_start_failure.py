"""A local stack whose start fails half way stops what it had started: nobody holds it to stop it later
(`with LocalStack()` gets no __exit__ when __enter__ raises), so PostgreSQL would outlive the process."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# in a process of its own: a start sets the process's environment and installs hooks that a failed start leaves
FAILING_START = """
import sys
from pathlib import Path
from orchestration.runtime.stack import LocalStack
stack = LocalStack(home=Path(sys.argv[1]), provisioner="no-such-provisioner", name_prefix="mtx-failing")
try:
    stack.start()
except ValueError as exc:
    assert "provisioner" in str(exc)  # raised after PostgreSQL and moto started
    print(stack.pg.data_dir)
    sys.exit(0)
sys.exit("the start did not fail")
"""


def test_a_failed_start_stops_the_postgresql_it_started() -> None:
    home = Path(tempfile.mkdtemp(prefix="mtx-failing-"))  # reachable by the postgres user, as the stacks' homes
    home.chmod(0o755)
    try:
        done = subprocess.run([sys.executable, "-c", FAILING_START, str(home)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        data_dir = Path(done.stdout.strip().splitlines()[-1])
        assert (data_dir / "PG_VERSION").exists()  # it had started
        assert not (data_dir / "postmaster.pid").exists()  # and was stopped
    finally:
        shutil.rmtree(home, ignore_errors=True)


# the handlers' warm-container caches, filled as an earlier stack in this process would have, then a start
FORGETTING_START = """
import sys
from pathlib import Path
from lambdas.common.enrich import players
from lambdas.ingest_stream import handler as stream
from orchestration.runtime.stack import LocalStack
players._known_here[("mtx-forget-players", "p1")] = "tx-of-another-stack"
stream._catalogue = (0.0, None, None)
stack = LocalStack(home=Path(sys.argv[1]), provisioner="no-such-provisioner", name_prefix="mtx-forget")
try:
    stack.start()
except ValueError:
    pass
assert players._known_here == {}, "the players an earlier stack's handlers saw are still known"
assert stream._catalogue is None, "the stream handler still holds an earlier stack's catalogue"
"""


def test_a_start_gives_the_handlers_new_containers() -> None:
    """A benchmark starts several stacks in one process, each with empty tables under the same names: what a warm
    handler kept of the last one (the players it saw, the stream's catalogue) is dropped, as a new Lambda
    container would start without it. Before, a second stream run found every player already known."""
    home = Path(tempfile.mkdtemp(prefix="mtx-forget-"))
    home.chmod(0o755)
    try:
        done = subprocess.run([sys.executable, "-c", FORGETTING_START, str(home)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        shutil.rmtree(home, ignore_errors=True)
