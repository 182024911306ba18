"""Every alarm (and the cost budget) in Terraform has its row in docs/runbook.md, and every row names one that exists.

The alarm names are read from the HCL (python-hcl2, tests/hcl_helpers.py) and written as the runbook writes
them: without the environment's name prefix, a for_each key expanded where the keys are fixed (the business
alarms of metrics.json, the failure queues the variable allows) and a placeholder where the keys are the
deployment's (``<workflow>``, ``<function>``). An alarm name built from anything else fails the test until
this file learns to read it. What could fail: an alarm added without a runbook line, a row left behind
for an alarm removed or renamed.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.hcl_helpers import MODULES, REPO, blocks, module_locals, unquote, variables

pytestmark = pytest.mark.unit

ALARM_TYPES = {"aws_cloudwatch_metric_alarm": "alarm_name", "aws_budgets_budget": "name"}
RUNBOOK = REPO / "docs" / "runbook.md"


def _each_keys(directory_name: str, for_each: str) -> list[str]:
    """The keys of a for_each whose keys are fixed by the repository, not by the deployment."""
    directory = MODULES / directory_name
    if for_each == "${local.business_alarms}":
        definition = json.loads((directory / "metrics.json").read_text())
        return [m["alarm"]["name"] for m in definition["metrics"] if m["alarm"] is not None]
    if for_each == "${var.failure_queue_names}":
        [validation] = variables(directory)["failure_queue_names"]["validation"]
        allowed = re.search(r"contains\(\[([^\]]*)\], k\)", validation["condition"])
        assert allowed, "failure_queue_names: its validation lists the keys it allows"
        return [unquote(k.strip()) for k in allowed.group(1).split(",")]
    raise AssertionError(f"modules/{directory_name}: alarms over {for_each}: teach tests/unit/infra/test_runbook.py")


def _lambda_metrics() -> list[str]:
    local = module_locals(MODULES / "monitoring")["lambda_alarms"]
    found = re.search(r"for metric in \[([^\]]*)\]", local)
    assert found, "modules/monitoring local.lambda_alarms: the metrics it alarms on"
    return [unquote(m.strip()).lower() for m in found.group(1).split(",")]


def terraform_alarms() -> set[str]:
    """Every alarm and budget name as the runbook writes it."""
    names: set[str] = set()
    for directory in sorted(p for p in MODULES.iterdir() if p.is_dir()):
        for rtype, _name, body in blocks(directory, "resource"):
            if rtype not in ALARM_TYPES:
                continue
            template = unquote(body[ALARM_TYPES[rtype]]).removeprefix("${var.name_prefix}-")
            template = template.replace('${replace(each.key, "_", "-")}', "<workflow>")
            template = template.replace("${each.value.function}", "<function>")
            expanded = [template]
            if "${lower(each.value.metric)}" in template:
                expanded = [template.replace("${lower(each.value.metric)}", m) for m in _lambda_metrics()]
            if "${each.key}" in template:
                expanded = [
                    t.replace("${each.key}", k) for t in expanded for k in _each_keys(directory.name, body["for_each"])
                ]
            for name in expanded:
                assert "${" not in name, f"modules/{directory.name}: cannot read the alarm name {name}"
                names.add(name)
    return names


def runbook_alarms() -> set[str]:
    """The names in backticks in the first column of the runbook's table."""
    names: set[str] = set()
    for line in RUNBOOK.read_text().splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2 and not set(cells[1].strip()) <= {"-", " "}:
            names.update(re.findall(r"`([^`]+)`", cells[1]))
    return names


def test_the_alarms_are_read_from_terraform() -> None:
    names = terraform_alarms()
    # one of each kind: a plain alarm, a per-workflow and a per-function one, a catalogued one, a queue, the budget
    expected = {"dead-letter-not-empty", "<workflow>-executions-failed", "<function>-errors", "stuck-pending",
                "stream-failures-not-empty", "monthly-cost"}  # fmt: skip
    assert expected <= names


def test_every_alarm_and_the_budget_have_a_runbook_row() -> None:
    missing = terraform_alarms() - runbook_alarms()
    assert not missing, f"docs/runbook.md has no row for {sorted(missing)}"


def test_every_runbook_row_names_an_alarm_that_exists() -> None:
    unknown = runbook_alarms() - terraform_alarms()
    assert not unknown, f"docs/runbook.md names alarms Terraform does not create: {sorted(unknown)}"
