"""The state machine diagrams (docs/state-machines.md) are drawn from the ASL files and kept up to date.

What could fail: a workflow changed without regenerating its picture (the page differs from what the
ASL files give), a state left out of its diagram, an arrow to a node that is never drawn (a Next, Default,
Choice or Catch target missed, or drawn in the wrong box), a Catch drawn as a plain arrow.
(The page was also parsed with mermaid 11's own parser when the generator was written; that check needs
Node.js and is not part of this suite.)
"""

from __future__ import annotations

import json
import re

import pytest

from orchestration import asl_diagram

pytestmark = pytest.mark.unit

FILES = sorted(asl_diagram.STATE_MACHINES_DIR.glob("*.asl.json"))
_NODE_DEF = re.compile(r"^\s*(\w+)(?:\[|\{|\(|\[\[|\[/)")
_SUBGRAPH = re.compile(r"^\s*subgraph (\w+)\[")
_EDGE = re.compile(r"^\s*(\w+) (?:--> |-- \"[^\"]*\" --> |-\. \"[^\"]*\" \.-> )(\w+)")


def test_the_page_is_up_to_date() -> None:
    assert asl_diagram.PAGE.read_text() == asl_diagram.page(), (
        "docs/state-machines.md is out of date: run `python -m orchestration.asl_diagram`"
    )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_state_is_drawn_and_every_arrow_ends_on_a_drawn_node(path) -> None:
    definition = json.loads(path.read_text())
    text = asl_diagram.diagram(definition)
    defined = set()
    for line in text.splitlines():
        for pattern in (_SUBGRAPH, _NODE_DEF):
            m = pattern.match(line)
            if m:
                defined.add(m.group(1))
    for state in asl_diagram.state_names(definition):
        assert asl_diagram.node_id(state) in defined, f"{'/'.join(state)} is not drawn"
    edges = [_EDGE.match(line) for line in text.splitlines()]
    targets = {m.group(2) for m in edges if m}
    missing = {t for t in targets if t not in defined and not t.endswith("__end")}
    assert not missing, f"arrows to nodes never drawn: {sorted(missing)}"


def test_catches_are_dotted_and_labelled_with_their_errors() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "${check_item_function_arn}"},
                "Next": "B",
                "Catch": [{"ErrorEquals": ["ItemNotFound", "States.Timeout"], "Next": "Failed"}],
            },
            "B": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Done"}],
                "Default": "Failed",
            },
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "X"},
        },
    }
    text = asl_diagram.diagram(definition)
    assert 'A -. "ItemNotFound, States.Timeout" .-> Failed' in text
    assert "A --> B" in text
    assert 'B -- "ok BooleanEquals true" --> Done' in text
    assert 'B -- "otherwise" --> Failed' in text
    assert "lambda check_item" in text
    assert "Failed --> __end((end))" in text


def test_the_check_mode_bites(tmp_path, monkeypatch) -> None:
    stale = tmp_path / "state-machines.md"
    stale.write_text(asl_diagram.page().replace("flowchart TD", "flowchart LR", 1))
    monkeypatch.setattr(asl_diagram, "PAGE", stale)
    assert asl_diagram.main(["--check"]) == 1
    stale.write_text(asl_diagram.page())
    assert asl_diagram.main(["--check"]) == 0
