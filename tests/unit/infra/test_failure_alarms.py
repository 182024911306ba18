"""The failure alarms count unexpected failures apart from the contract's rejects (issue 18, item 2).

Cross-checks over the parsed HCL and the ASL files; the alarm's arithmetic itself is asserted by
`terraform test` (infra/terraform/modules/monitoring/tests/failures_by_error.tftest.hcl).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.hcl_helpers import ENVS, MODULES, PLATFORM, REPO, parsed, resource, unquote, variables

pytestmark = pytest.mark.unit

ASL = REPO / "orchestration" / "state_machines"


def _fail_errors(states: dict[str, Any]) -> dict[str, str]:
    """Fail state name -> its Error, nested Parallel/Map branches included."""
    found: dict[str, str] = {}
    for name, state in states.items():
        if state["Type"] == "Fail":
            found[name] = state.get("Error", "")
        for branch in state.get("Branches", []):
            found.update(_fail_errors(branch["States"]))
        if "ItemProcessor" in state or "Iterator" in state:
            found.update(_fail_errors((state.get("ItemProcessor") or state["Iterator"])["States"]))
    return found


def _default_rejects() -> list[str]:
    return [unquote(e) for e in variables(MODULES / "monitoring")["reject_error_names"]["default"]]


def test_the_rejects_not_paged_on_are_the_transaction_workflows_reject_fail_state() -> None:
    fails = _fail_errors(json.loads((ASL / "transaction.asl.json").read_text())["States"])
    rejects = _default_rejects()
    assert rejects == ["DataValidationError"]
    assert set(rejects) <= set(fails.values()), f"no Fail state ends in {rejects}: {fails}"
    # every other workflow's failures page: none of them ends in a reject name
    for path in sorted(ASL.glob("*.asl.json")):
        if path.name != "transaction.asl.json":
            other = _fail_errors(json.loads(path.read_text())["States"])
            assert not set(rejects) & set(other.values()), f"{path.name} ends in a reject name: {other}"


@pytest.mark.parametrize("env", sorted(p.name for p in ENVS.iterdir() if p.is_dir()))
def test_every_environment_feeds_the_workflows_log_groups_to_the_failure_metrics(env: str) -> None:
    calls = {unquote(k): v for e in parsed(PLATFORM / "main.tf")["module"] for k, v in e.items()}
    monitoring = calls["monitoring"]
    assert monitoring["state_machine_log_group_names"] == "${module.state_machines.log_group_names}"
    assert monitoring["workflows"] == "${module.state_machines.workflows}"


def test_the_log_groups_given_are_those_the_state_machines_log_to() -> None:
    outputs = {unquote(k): v for e in parsed(MODULES / "state_machines" / "outputs.tf")["output"] for k, v in e.items()}
    assert "aws_cloudwatch_log_group.this" in outputs["log_group_names"]["value"]
    machine = resource(MODULES / "state_machines", "aws_sfn_state_machine")
    assert "aws_cloudwatch_log_group.this[each.key].arn" in machine["logging_configuration"][0]["log_destination"]


def test_the_failure_metric_reads_the_error_name_and_nothing_of_the_execution() -> None:
    metric_filter = resource(MODULES / "monitoring", "aws_cloudwatch_log_metric_filter")
    transformation = metric_filter["metric_transformation"][0]
    assert transformation["dimensions"] == {"Error": '"$.details.error"'}  # the class, never a Cause or input
    assert unquote(transformation["value"]) == "1"
    assert "ExecutionFailed" in metric_filter["pattern"]


def test_the_dashboard_graphs_rejects_apart_from_unexpected_failures() -> None:
    body = resource(MODULES / "monitoring", "aws_cloudwatch_dashboard")["dashboard_body"]
    assert "Rejected by the contract (expected)" in body
    assert "Unexpected failures by error class" in body
    assert "NOT Error=" in body  # the unexpected graph leaves the rejects out


def _handlers_raising_rejects() -> set[str]:
    """Functions whose handler module re-raises a reject of the contract or the catalogue (``except <Reject>: ...
    raise``): Step Functions catches those by name, so every reject is a Lambda error of that function."""
    import ast

    from lambdas.common.metrics import REJECT_REASONS

    found = set()
    for path in sorted((REPO / "lambdas").glob("*/handler.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ExceptHandler) and node.type is not None):
                continue
            caught = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
            reraises = any(isinstance(s, ast.Raise) and s.exc is None for s in ast.walk(node))
            if caught & REJECT_REASONS and reraises:
                found.add(path.parent.name)
    return found


def test_the_functions_without_an_errors_alarm_are_those_that_raise_rejects() -> None:
    """Their Errors alarm would page on every reject; the workflow's executions-failed alarm covers them."""
    default = {unquote(f) for f in variables(MODULES / "monitoring")["functions_raising_rejects"]["default"]}
    assert default == _handlers_raising_rejects() == {"validate_transaction", "check_item", "store_compliance"}
