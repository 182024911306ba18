"""A local stack seen from another process: its state file, whether its process lives, stopping it
(``mtx down``, ``mtx status``, the soak and the CLI's connection to a stack started by ``mtx up``)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from orchestration.runtime.postgres import PostgresServer


def read_state(home: Path) -> dict[str, Any] | None:
    path = Path(home) / "stack.json"
    if not path.exists():
        return None
    return dict(json.loads(path.read_text()))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_running(home: Path, timeout: float = 60.0) -> str:
    """Stop a stack started by ``mtx up`` in another process (SIGTERM, then clean up)."""
    state = read_state(home)
    if state is not None and pid_alive(int(state["pid"])):
        os.kill(int(state["pid"]), signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(int(state["pid"])) and time.monotonic() < deadline:
            time.sleep(0.2)
    pg = PostgresServer(Path(home) / "pg")
    was_running = pg.initialised() and pg.running()
    pg.stop()
    for name in ("stack.json", "stack.env"):
        (Path(home) / name).unlink(missing_ok=True)
    if state is None and not was_running:
        return "no local stack was running"
    return "local stack stopped"
