"""Terraform of the last-resort net and the PENDING sweeper against what the local runtime creates and runs
(orchestration/runtime/manifest.py put_lambda_rules): the same rule names, pattern, schedule, and targets that
retry and keep what they could not deliver."""

from __future__ import annotations

import pytest

from orchestration.runtime import manifest as manifest_mod
from orchestration.settings import Settings
from tests.hcl_helpers import MODULES, PLATFORM, module_locals, parsed, resource, unquote, variables

pytestmark = pytest.mark.unit
TRIGGERS = MODULES / "triggers"
S = Settings(name_prefix="mtx-dev")


def _name(expr: str) -> str:
    return unquote(expr).replace("${var.name_prefix}", S.name_prefix)


def test_rule_names_are_the_manifests() -> None:
    assert _name(resource(TRIGGERS, "aws_cloudwatch_event_rule", "failed_executions")["name"]) == (
        manifest_mod.failed_executions_rule_name(S)
    )
    assert _name(resource(TRIGGERS, "aws_cloudwatch_event_rule", "sweep_pending")["name"]) == (
        manifest_mod.sweep_pending_rule_name(S)
    )


def test_the_net_rule_has_the_manifests_pattern_on_the_standard_machines() -> None:
    pattern = resource(TRIGGERS, "aws_cloudwatch_event_rule", "failed_executions")["event_pattern"]
    local = manifest_mod.failed_executions_pattern(["x"])
    for value in (*local["source"], *local["detail-type"], *local["detail"]["status"]):
        assert f'"{value}"' in pattern
    assert "stateMachineArn = sort(var.watched_state_machine_arns)" in pattern
    # every environment: the composition module (each env root calls it once, test_terraform.py)
    [call] = [c['"triggers"'] for c in parsed(PLATFORM / "main.tf")["module"] if '"triggers"' in c]
    assert call["watched_state_machine_arns"] == "${module.state_machines.standard_state_machine_arns}"
    assert call["net_function_arn"] == '${module.lambda.function_arns["dead_letter_failed_execution"]}'
    assert call["sweep_function_arn"] == '${module.lambda.function_arns["sweep_pending"]}'


def test_the_sweeper_runs_on_the_manifests_schedule() -> None:
    rule = resource(TRIGGERS, "aws_cloudwatch_event_rule", "sweep_pending")
    assert rule["schedule_expression"] == "${var.sweep_pending_schedule}"
    assert unquote(variables(TRIGGERS)["sweep_pending_schedule"]["default"]) == manifest_mod.SWEEP_PENDING_SCHEDULE


@pytest.mark.parametrize("name", ["failed_executions", "sweep_pending"])
def test_each_target_retries_keeps_what_it_could_not_deliver_and_may_invoke_from_its_rule_only(name: str) -> None:
    target = resource(TRIGGERS, "aws_cloudwatch_event_target", name)
    assert target["rule"] == f"${{aws_cloudwatch_event_rule.{name}.name}}"
    [retry] = target["retry_policy"]
    assert retry["maximum_retry_attempts"] > 0 and retry["maximum_event_age_in_seconds"] > 0
    [dead_letter] = target["dead_letter_config"]
    assert dead_letter["arn"] == "${var.async_failures_queue_arn}"
    permission = resource(TRIGGERS, "aws_lambda_permission", name)
    assert unquote(permission["principal"]) == "events.amazonaws.com"
    assert permission["source_arn"] == f"${{aws_cloudwatch_event_rule.{name}.arn}}"


def test_the_async_functions_keep_failed_invocations_in_an_encrypted_queue() -> None:
    lambda_dir = MODULES / "lambda"
    local = module_locals(lambda_dir)
    assert local["async_functions"] == "${[for short, f in local.functions : short if f.async]}"
    assert {f.short for f in manifest_mod.FUNCTIONS.values() if f.invoked_async} == {
        "dead_letter_failed_execution",
        "sweep_pending",
    }
    queue = resource(lambda_dir, "aws_sqs_queue")
    assert queue["kms_master_key_id"] == "${var.kms_key_arn}"
    config = resource(lambda_dir, "aws_lambda_function_event_invoke_config")
    assert config["maximum_retry_attempts"] == 2
    for short in ("dead_letter_failed_execution", "sweep_pending"):
        assert "${local.keep_failed_invocations}" in str(local["permissions"][short])


def test_the_net_and_the_sweeper_describe_only_our_executions() -> None:
    permissions = module_locals(MODULES / "lambda")["permissions"]
    net = str(permissions["dead_letter_failed_execution"])
    assert 'local.executions["batch_ingest"]' in net and 'local.executions["transaction"]' not in net
    sweeper = str(permissions["sweep_pending"])
    assert "local.transaction_express_executions" in sweeper and 'local.executions["batch_ingest"]' in sweeper
    assert 'local.secrets["compliance_reader"]' in sweeper and "compliance_writer" not in sweeper
