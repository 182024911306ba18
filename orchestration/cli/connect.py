"""Reaching a stack started by ``mtx up`` from another process: its settings, clients and URLs
(:class:`RunningStack`), and POSTing transactions to its API as a producer does (:func:`post_lines`)."""

from __future__ import annotations

import json
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from orchestration.cli import output
from orchestration.cli.exit_codes import StackNotRunning
from orchestration.runtime import emf
from orchestration.runtime.auth import API_KEY_HEADER
from orchestration.settings import Settings, reset_settings_cache


class RunningStack:
    """What another process needs of a stack started by ``mtx up``: settings, clients, URLs."""

    def __init__(self, home: Path) -> None:
        from orchestration.runtime.stack import pid_alive, read_state

        state = read_state(home)
        if state is None or not pid_alive(int(state["pid"])):
            raise StackNotRunning(f"no local stack is running (state in {home}); start one with `mtx up`")
        self.state = state
        env_file = Path(home) / "stack.env"
        for line in env_file.read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            os.environ.setdefault(key, json.loads(value))
        reset_settings_cache()
        self.settings = Settings(name_prefix=state["name_prefix"], region=state["region"])
        # deployed code this command runs in-process (`mtx sweep`, `mtx check`...) prints its metric lines as
        # in Lambda: they join the stack's, not the command's output
        emf.install(emf.stack_file(Path(home)))

    def client(self, service: str) -> Any:
        from lambdas.common.aws import client

        return client(service, self.settings)

    @property
    def api_url(self) -> str:
        return str(self.state["api_url"])

    def state_machine_arn(self, workflow: str) -> str:
        return str(self.state["state_machines"][workflow])

    @property
    def dead_letter_queue_url(self) -> str:
        return str(self.state["queues"][self.settings.dead_letter_queue_name])


# ---------------------------------------------------------------------------
def post_lines(
    api_url: str, lines: Iterable[str], concurrency: int = 8, show_progress: bool = True, api_key: str = ""
) -> list[dict[str, Any]]:
    """POST every line to /transactions with the producer's ``api_key`` (x-api-key); one result per line."""
    items = [ln for ln in lines if ln.strip()]
    results: list[dict[str, Any]] = [{} for _ in items]
    lock = threading.Lock()

    def send(i: int) -> None:
        req = urllib.request.Request(  # noqa: S310 - the URL is the local API's own
            f"{api_url}/transactions", data=items[i].encode(), method="POST",
            headers={"Content-Type": "application/json", API_KEY_HEADER: api_key},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
                results[i] = {"status": resp.status, "body": json.loads(resp.read())}
        except urllib.error.HTTPError as exc:
            results[i] = {"status": exc.code, "body": json.loads(exc.read() or b"{}")}
        with lock:
            advance(1)

    with (
        output.progress(len(items), "sending", enabled=show_progress) as advance,
        ThreadPoolExecutor(max_workers=concurrency) as pool,
    ):
        list(pool.map(send, range(len(items))))
    return results


def read_lines(source: str) -> Iterator[str]:
    if source == "-":
        yield from sys.stdin
    else:
        with open(source, encoding="utf-8") as fh:
            yield from fh
