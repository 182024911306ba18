"""Every dead letter of the transaction workflow carries its redrive attempt (issue 18, item 5): the redrive
passes ``redrive_attempt`` in the execution input, ValidateTransaction passes it on, each dead-letter state
puts it in the letter. The validation-failure path sees the raw input, where the entrances put none: a
Choice picks the state that reads it only when it is present (a missing path would fail the execution)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.validate_transaction.handler import validate
from orchestration.runtime import sfn
from tests.helpers import seed_tx

pytestmark = pytest.mark.unit

STATES: dict[str, Any] = json.loads((sfn.STATE_MACHINES_DIR / "transaction.asl.json").read_text())["States"]


def test_every_dead_letter_the_workflow_sends_carries_the_attempt() -> None:
    sent_from = [name for name, state in STATES.items() if state.get("Next") == "SendToDeadLetterQueue"
                 or any(c.get("Next") == "SendToDeadLetterQueue" for c in state.get("Catch", []))]  # fmt: skip
    assert "MarkFailed" in sent_from
    letters = {name: STATES[name]["Parameters"]["dead_letter"] for name in STATES if name.startswith("Attach")
               and "dead_letter" in STATES[name].get("Parameters", {})}  # fmt: skip
    assert set(letters) == {"AttachValidationError", "AttachValidationErrorOfRedrive", "AttachProcessingError",
                            "AttachStoreError"}  # fmt: skip
    assert letters["AttachValidationError"]["redrive_attempt"] == 0
    assert letters["AttachValidationErrorOfRedrive"]["redrive_attempt.$"] == "$.redrive_attempt"
    assert letters["AttachProcessingError"]["redrive_attempt.$"] == "$.redrive_attempt"
    # after the compliance write the state carries the PII-free block, which keeps the attempt beside the ids
    assert letters["AttachStoreError"]["redrive_attempt.$"] == "$.redrive_attempt"
    assert letters["AttachStoreError"]["transaction.$"] == "$.recalled.transaction"
    for name, letter in letters.items():
        assert letter["execution_id.$"] == "$$.Execution.Id", name  # how a redrive recognises its own letter
    assert STATES["SendToDeadLetterQueue"]["Parameters"]["MessageBody.$"] == "$.dead_letter"


def test_the_validation_failure_path_reads_the_attempt_only_when_present() -> None:
    catches = STATES["ValidateTransaction"]["Catch"]
    assert catches[0]["ErrorEquals"] == ["InvalidTransaction"]  # the contract's reject, caught by name
    assert {c["Next"] for c in catches} == {"WasItRedriven"}  # every failure of the step takes the same path
    choice = STATES["WasItRedriven"]
    assert choice["Type"] == "Choice"
    [rule] = choice["Choices"]
    assert rule == {"Variable": "$.redrive_attempt", "IsPresent": True, "Next": "AttachValidationErrorOfRedrive"}
    assert choice["Default"] == "AttachValidationError"


@pytest.mark.parametrize(("given", "passed_on"), [(None, 0), (2, 2), ("2", 0), (-3, 0), (True, 0)])
def test_validate_transaction_passes_the_attempt_on(given: Any, passed_on: int) -> None:
    event: dict[str, Any] = {"transaction": seed_tx(), "received_at": "2025-02-09T12:40:00Z"}
    if given is not None:
        event["redrive_attempt"] = given
    assert validate(event)["redrive_attempt"] == passed_on
