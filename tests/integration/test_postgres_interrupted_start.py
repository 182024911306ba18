"""A local PostgreSQL start interrupted half way (a SIGTERM or Ctrl-C while ``pg_ctl start`` runs) leaves no server
behind (orchestration/runtime/postgres.py ``PostgresServer.stop``).

pg_ctl forks the postmaster, which writes its pid file a moment later; a stop in between found "no server
running" and returned, and the server came up with nobody to stop it. Here the interruption is placed exactly
there: the real ``pg_ctl start`` is launched, and the call that waits for it ends with ``SystemExit`` (what the
benchmarks' SIGTERM handler raises) before the server can have written its pid file (pg_ctl is launched a
second late, so that the order is certain). The stack's own cleanup, ``stop()``, then runs at once."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from orchestration.runtime import postgres
from orchestration.runtime.postgres import PostgresServer

pytestmark = pytest.mark.integration


def _postmasters_of(data_dir: Path) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"postgres") and str(data_dir).encode() in args:
            found.append(int(cmdline.parent.name))
    return found


def test_a_start_interrupted_before_the_pid_file_leaves_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(tempfile.mkdtemp(prefix="mtx-pg-interrupted-"))
    root.chmod(0o755)  # PostgreSQL runs as an unprivileged user when the tests run as root
    server = PostgresServer(root=root)
    launched: list[subprocess.Popen[bytes]] = []
    real_run = subprocess.run

    def interrupted(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        if any(str(c).endswith("/pg_ctl") for c in cmd) and "start" in cmd:
            # launched a second late, so the stop surely comes before the server's pid file (not left to a race)
            delayed = ["sh", "-c", 'sleep 1; exec "$@"', "sh", *cmd]
            launched.append(subprocess.Popen(delayed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/"))
            raise SystemExit(143)  # the SIGTERM, while the caller waits for pg_ctl
        return real_run(cmd, *args, **kwargs)

    try:
        server.init()
        monkeypatch.setattr(postgres.subprocess, "run", interrupted)
        with pytest.raises(SystemExit):
            server.start()
        monkeypatch.setattr(postgres.subprocess, "run", real_run)
        assert len(launched) == 1
        assert not server.pid_file.exists()  # the interruption came before the pid file
        server.stop()  # what the stack's cleanup does
        launched[0].wait(timeout=90)
        assert _postmasters_of(server.data_dir) == []
        assert not server.running()
        log = server.log_file.read_text(errors="replace")
        assert "database system is shut down" in log  # it had come up, and was stopped (not killed)
    finally:
        monkeypatch.setattr(postgres.subprocess, "run", real_run)
        if server.initialised() and server.running():
            server._pg("pg_ctl", "stop", "-D", str(server.data_dir), "-m", "immediate", check=False)
        shutil.rmtree(root, ignore_errors=True)
