"""State machines published as versions behind the alias "live": a rollback is one variable.

Every starter of an execution that Terraform wires (API Gateway, the EventBridge rule,
the Scheduler schedule, the redrive role, the analytics job start) targets the alias,
and IAM grants states:StartExecution on it. `terraform test` (modules/state_machines/tests/
alias.tftest.hcl) checks the routing itself: latest published by default, a pinned number or ARN.
"""

from __future__ import annotations

import pytest

from tests.hcl_helpers import ENVS, MODULES, PLATFORM, blocks, module_locals, parsed, resource, unquote, variables

pytestmark = pytest.mark.unit

STATE_MACHINES = MODULES / "state_machines"


def platform_calls() -> dict[str, dict[str, object]]:
    return {unquote(k): v for e in parsed(PLATFORM / "main.tf")["module"] for k, v in e.items()}


def test_every_state_machine_publishes_and_has_an_alias_routing_all_of_its_traffic() -> None:
    machine = resource(STATE_MACHINES, "aws_sfn_state_machine")
    assert machine["publish"] is True
    alias = resource(STATE_MACHINES, "aws_sfn_alias")
    assert alias["for_each"] == "${local.names}"
    assert alias["name"] == "${var.alias_name}"
    assert unquote(variables(STATE_MACHINES)["alias_name"]["default"]) == "live"
    [routing] = alias["routing_configuration"]
    assert routing["state_machine_version_arn"] == "${local.live_version_arns[each.key]}"
    assert routing["weight"] == 100
    live = module_locals(STATE_MACHINES)["live_version_arns"]
    # no pin: the version this apply published; a number: that version of this state machine; else the ARN
    assert "lookup(var.live_versions, w, null) == null ? m.state_machine_version_arn" in live
    assert '"${m.arn}:${var.live_versions[w]}"' in live


def test_the_rollback_variable_reaches_the_module_from_every_environment() -> None:
    assert platform_calls()["state_machines"]["live_versions"] == "${var.state_machine_live_versions}"
    assert variables(PLATFORM)["state_machine_live_versions"]["default"] == {}
    for env in ("dev", "prod", "local"):
        assert variables(ENVS / env)["state_machine_live_versions"]["default"] == {}, env
        [call] = [v for e in parsed(ENVS / env / "main.tf")["module"] for k, v in e.items() if unquote(k) == "platform"]
        assert call["state_machine_live_versions"] == "${var.state_machine_live_versions}", env


def test_every_starter_wired_by_terraform_targets_the_alias() -> None:
    calls = platform_calls()
    assert calls["api"]["state_machine_arn"] == '${module.state_machines.alias_arns["transaction"]}'
    triggers = calls["triggers"]
    assert (
        triggers["batch_ingest_state_machine_arn"]
        == '${lookup(module.state_machines.alias_arns, "batch_ingest", null)}'
    )
    assert (
        triggers["analytics_refresh_state_machine_arn"]
        == '${lookup(module.state_machines.alias_arns, "analytics_refresh", null)}'
    )
    assert calls["messaging"]["redrive_alias_arn"] == '${module.state_machines.alias_arns["transaction"]}'
    # what the rule and the schedule target, and the API's request template
    assert (
        resource(MODULES / "triggers", "aws_cloudwatch_event_target")["arn"] == "${var.batch_ingest_state_machine_arn}"
    )
    [target] = resource(MODULES / "triggers", "aws_scheduler_schedule")["target"]
    assert target["arn"] == "${var.analytics_refresh_state_machine_arn}"
    template = str(resource(MODULES / "api", "aws_api_gateway_integration")["request_templates"])
    assert "stateMachineArn" in template and "${var.state_machine_arn}" in template


def _start_execution_resources(directory: object) -> list[list[str]]:
    found = []
    for rtype, _, body in blocks(directory, "data"):  # type: ignore[arg-type]
        if rtype != "aws_iam_policy_document":
            continue
        for statement in body.get("statement", []):
            if "states:StartExecution" in [unquote(a) for a in statement.get("actions", [])]:
                found.append([unquote(r) for r in statement["resources"]])
    return found


def test_start_execution_is_granted_on_the_alias() -> None:
    assert _start_execution_resources(MODULES / "api") == [["${var.state_machine_arn}"]]
    assert _start_execution_resources(MODULES / "triggers") == [
        ["${var.batch_ingest_state_machine_arn}"],
        ["${var.analytics_refresh_state_machine_arn}"],
    ]
    # the redrive role: the alias first; the unqualified ARN for `mtx redrive` (it runs against the local stack,
    # where moto has no aliases, and starts the state machine itself)
    [redrive] = _start_execution_resources(MODULES / "messaging")
    assert redrive == ["${var.redrive_alias_arn}", "${var.redrive_state_machine_arn}"]
    local = module_locals(MODULES / "lambda")
    assert (
        unquote(local["analytics_job_alias_arn"])
        == "${local.analytics_job_state_machine_arn}:${var.state_machine_alias_name}"
    )
    analytics_api = str(local["permissions"]["analytics_api"])
    # the analytics API starts its jobs through the alias (MTX_STATE_MACHINE_ALIAS) and may start nothing else
    assert "resources = [local.analytics_job_alias_arn]" in analytics_api


def test_the_local_stack_keeps_the_unqualified_arns() -> None:
    """moto starts no execution through an alias: the runtime reads state_machine_arns (unqualified), which
    stays an output of every environment next to state_machine_alias_arns."""
    for env in ("dev", "prod", "local"):
        outputs = {unquote(k): v for e in parsed(ENVS / env / "outputs.tf")["output"] for k, v in e.items()}
        assert outputs["state_machine_arns"]["value"] == "${module.platform.state_machine_arns}"
        assert outputs["state_machine_alias_arns"]["value"] == "${module.platform.state_machine_alias_arns}"
