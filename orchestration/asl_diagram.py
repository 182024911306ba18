"""Diagrams of the state machines, drawn from the ASL files themselves (Mermaid flowcharts).

``python -m orchestration.asl_diagram`` writes ``docs/state-machines.md``; ``--check`` exits 1 when
the page no longer matches the ASL files (``tests/unit/test_asl_diagram.py`` runs the same check, so a
changed workflow with a stale picture fails the tests). GitHub and most Markdown viewers draw the
``mermaid`` blocks; the text stays readable without them.

What is drawn: every state (Task, Choice, Parallel, Map, Pass, Wait, Succeed, Fail) with its type,
``Next`` / ``Default`` / ``End`` as solid arrows, each Choice rule as an arrow labelled with the rule's
condition in short, each Catch as a dotted arrow labelled with the errors it catches, Parallel
branches and Map item processors as nested boxes. Retry blocks are not drawn (one policy writes them
all: ``orchestration/asl_policy.py``; docs/guarantees.md lists it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from orchestration.generated import write_or_check

STATE_MACHINES_DIR = Path(__file__).with_name("state_machines")
PAGE = Path(__file__).resolve().parent.parent / "docs" / "state-machines.md"

_SHAPES = {
    "Task": ("[", "]"),
    "Choice": ("{", "}"),
    "Pass": ("([", "])"),
    "Wait": ("[/", "/]"),
    "Succeed": ("([", "])"),
    "Fail": ("[[", "]]"),
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_LABEL_MAX = 48


def _node_id(path: tuple[str, ...]) -> str:
    return "__".join(_UNSAFE.sub("_", part) for part in path)


def _label(text: str) -> str:
    """A label Mermaid accepts inside quotes (no quotes, pipes or brackets of its own), kept short."""
    text = re.sub(r"[\"|<>{}\[\]]", "", text).strip()
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= _LABEL_MAX else text[: _LABEL_MAX - 1] + "…"


def _resource(state: Mapping[str, Any]) -> str:
    """What a Task calls: the Lambda function (by its Terraform placeholder) or the service integration."""
    resource = str(state.get("Resource", ""))
    parameters = state.get("Parameters") or state.get("Arguments") or {}
    function = str(parameters.get("FunctionName", "")) if isinstance(parameters, Mapping) else ""
    if resource == "arn:aws:states:::lambda:invoke" or not resource.startswith("arn:aws:states:::"):
        name = re.sub(r"^\$\{(.*)\}$", r"\1", function or resource).removesuffix("_arn").removesuffix("_function")
        return f"lambda {name}"
    return resource.removeprefix("arn:aws:states:::")


def _choice_condition(rule: Mapping[str, Any]) -> str:
    if "Condition" in rule:  # JSONata
        return str(rule["Condition"]).removeprefix("{%").removesuffix("%}").strip()
    for key in ("And", "Or"):
        if key in rule:
            return f" {key.lower()} ".join(_choice_condition(r) for r in rule[key])
    if "Not" in rule:
        return "not " + _choice_condition(rule["Not"])
    variable = str(rule.get("Variable", "")).removeprefix("$.")
    for key, value in rule.items():
        if key not in ("Variable", "Next", "Comment"):
            return f"{variable} {key} {json.dumps(value)}"
    return variable


class _Drawing:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def states(self, states: Mapping[str, Any], start_at: str, scope: tuple[str, ...], depth: int) -> None:
        self.emit(depth, f"{_node_id((*scope, '__start'))}((start)) --> {_node_id((*scope, start_at))}")
        for name, state in states.items():
            self.state(name, state, scope, depth)
        for name, state in states.items():
            self.edges(name, state, scope, depth)

    def state(self, name: str, state: Mapping[str, Any], scope: tuple[str, ...], depth: int) -> None:
        kind = state["Type"]
        node = _node_id((*scope, name))
        if kind in ("Parallel", "Map"):
            self.emit(depth, f'subgraph {node}["{_label(name)} · {kind}"]')
            self.emit(depth + 1, "direction TB")
            if kind == "Parallel":
                for i, branch in enumerate(state["Branches"]):
                    inner = (*scope, name, f"branch{i + 1}")
                    self.emit(depth + 1, f'subgraph {_node_id(inner)}["branch {i + 1}"]')
                    self.states(branch["States"], branch["StartAt"], inner, depth + 2)
                    self.emit(depth + 1, "end")
            else:
                processor = state.get("ItemProcessor") or state["Iterator"]
                self.states(processor["States"], processor["StartAt"], (*scope, name, "item"), depth + 1)
            self.emit(depth, "end")
            return
        opening, closing = _SHAPES[kind]
        detail = _resource(state) if kind == "Task" else kind
        self.emit(depth, f'{node}{opening}"{_label(name)}<br/><small>{_label(detail)}</small>"{closing}')

    def edges(self, name: str, state: Mapping[str, Any], scope: tuple[str, ...], depth: int) -> None:
        node = _node_id((*scope, name))
        if "Next" in state:
            self.emit(depth, f"{node} --> {_node_id((*scope, state['Next']))}")
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            self.emit(depth, f"{node} --> {_node_id((*scope, '__end'))}((end))")
        for rule in state.get("Choices", []):
            self.emit(depth, f'{node} -- "{_label(_choice_condition(rule))}" --> {_node_id((*scope, rule["Next"]))}')
        if "Default" in state:
            self.emit(depth, f'{node} -- "otherwise" --> {_node_id((*scope, state["Default"]))}')
        for catch in state.get("Catch", []):
            errors = ", ".join(catch["ErrorEquals"])
            self.emit(depth, f'{node} -. "{_label(errors)}" .-> {_node_id((*scope, catch["Next"]))}')


def diagram(definition: Mapping[str, Any]) -> str:
    """The Mermaid flowchart of one state machine definition."""
    drawing = _Drawing()
    drawing.emit(0, "flowchart TD")
    drawing.states(definition["States"], definition["StartAt"], (), 1)
    return "\n".join(drawing.lines) + "\n"


def state_names(definition: Mapping[str, Any]) -> Iterator[tuple[str, ...]]:
    """Every state of a definition, nested ones included, as its path of names (what the diagram draws)."""

    def walk(states: Mapping[str, Any], scope: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for name, state in states.items():
            yield (*scope, name)
            for i, branch in enumerate(state.get("Branches", [])):
                yield from walk(branch["States"], (*scope, name, f"branch{i + 1}"))
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                yield from walk(processor["States"], (*scope, name, "item"))

    yield from walk(definition["States"], ())


def node_id(path: tuple[str, ...]) -> str:
    return _node_id(path)


def page(directory: Path = STATE_MACHINES_DIR) -> str:
    parts = [
        "# The state machines\n",
        "Generated from `orchestration/state_machines/*.asl.json` by `python -m orchestration.asl_diagram`",
        "(`make schema`); a unit test fails when this page is out of date. Solid arrows: `Next`, `Default`,",
        "`End` and Choice rules; dotted arrows: `Catch` (labelled with the errors caught); boxes: Parallel",
        "branches and Map item processors. Retries are not drawn: one policy writes them all",
        "(`orchestration/asl_policy.py`, see [guarantees](guarantees.md)).\n",
    ]
    for path in sorted(directory.glob("*.asl.json")):
        definition = json.loads(path.read_text())
        title = path.name.removesuffix(".asl.json")
        comment = str(definition.get("Comment", "")).strip()
        parts.append(f"## {title}\n")
        if comment:
            parts.append(f"{comment}\n")
        source = f"orchestration/state_machines/{path.name}"
        parts.append(f"Source: [`{source}`](../{source})\n")
        parts.append("```mermaid\n" + diagram(definition) + "```\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    return write_or_check(PAGE, page, "python -m orchestration.asl_diagram", __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
