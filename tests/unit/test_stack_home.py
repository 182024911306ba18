"""A second local stack in a home where one runs refuses to start, before it touches anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestration.runtime.stack import LocalStack, StackAlreadyRunning

pytestmark = pytest.mark.unit


def test_a_second_stack_in_the_same_home_refuses_to_start(tmp_path: Path) -> None:
    # the running one: stack.json with a live pid that is not ours (our parent, pytest's launcher)
    (tmp_path / "stack.json").write_text(json.dumps({"pid": os.getppid()}))
    with pytest.raises(StackAlreadyRunning, match=f"already running in {tmp_path}"):
        LocalStack(home=tmp_path).start()
    assert not (tmp_path / "pg").exists()  # its PostgreSQL was not touched
