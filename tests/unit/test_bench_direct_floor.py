"""The per-transaction floor calls the same handlers as the workflow: a Lambda task added to the workflow's happy
path without its direct call would make the floor cheaper than the work it is compared with (Enrich once was)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks.transaction_workflow import DIRECT_FUNCTIONS

pytestmark = pytest.mark.unit

ASL = Path(__file__).resolve().parents[2] / "orchestration" / "state_machines" / "transaction.asl.json"


def _happy_path_functions() -> list[str]:
    """The Lambda tasks met from StartAt following Next (never a Catch or a Choice's other branch) to the end."""
    doc = json.loads(ASL.read_text())
    states, name, out = doc["States"], doc["StartAt"], []
    while name is not None:
        state = states[name]
        function = state.get("Parameters", {}).get("FunctionName", "")
        found = re.fullmatch(r"\$\{(\w+)_function_arn\}", function)
        if found:
            out.append(found.group(1))
        name = state.get("Next") or (state.get("Default") if state["Type"] == "Choice" else None)
    return out


def test_the_direct_floor_calls_every_lambda_of_the_workflows_happy_path_in_its_order() -> None:
    assert _happy_path_functions() == list(DIRECT_FUNCTIONS)
