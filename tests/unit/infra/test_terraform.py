"""Structural tests of infra/terraform over the parsed HCL (python-hcl2), cross-checked with the code.

The local runtime (orchestration/runtime/manifest.py) and Terraform must agree: resource
names, the ASL placeholders templatefile() fills, the Lambda functions the state
machines invoke and their handlers, the settings variables. No AWS, no terraform
binary needed (tests/integration/infra runs `terraform validate`).
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from orchestration.runtime import manifest as manifest_mod
from orchestration.settings import Settings
from tests.hcl_helpers import (
    ENVS,
    MODULES,
    PLATFORM,
    REPO,
    TF,
    blocks,
    module_locals,
    parsed,
    resource,
    tf_files,
    unquote,
    variables,
)

pytestmark = pytest.mark.unit

STATE_MACHINES_DIR = REPO / "orchestration" / "state_machines"
ENV = "dev"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def module_calls(env: str = ENV) -> dict[str, dict[str, Any]]:
    calls = {}
    for entry in parsed(PLATFORM / "main.tf").get("module", []):
        for name, body in entry.items():
            calls[unquote(name)] = body
    return calls


def module_dir(call: dict[str, Any]) -> Path:
    return (PLATFORM / unquote(call["source"])).resolve()


# --- a small evaluator for the string expressions that make names ------------------------------


def _split_args(text: str) -> list[str]:
    args, depth, quoted, current = [], 0, False, ""
    for ch in text:
        if ch == '"' and not current.endswith("\\"):
            quoted = not quoted
        if not quoted and ch in "([{":
            depth += 1
        elif not quoted and ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            args.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        args.append(current.strip())
    return args


def evaluate(expr: Any, scope: dict[str, Any]) -> Any:
    """Evaluate literals, ${...} interpolations, references and replace() as Terraform would."""
    if not isinstance(expr, str):
        return expr
    text = expr.strip()
    if text.startswith("${") and text.endswith("}") and text.count("${") == 1:
        return evaluate(text[2:-1], scope)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        inner = text[1:-1]
        return re.sub(r"\$\{([^}]*)\}", lambda m: str(evaluate(m.group(1), scope)), inner)
    call = re.fullmatch(r"replace\((.*)\)", text, flags=re.S)
    if call:
        source, old, new = (evaluate(a, scope) for a in _split_args(call.group(1)))
        return str(source).replace(str(old), str(new))
    ref = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[\"[^\"]+\"\])*", text)
    if ref:
        parts = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\"[^\"]+\"", text)
        value: Any = scope
        for part in parts:
            key = part.strip('"')
            value = value[key]
            if isinstance(value, str) and ("${" in value or value.startswith('"')):
                value = evaluate(value, scope)
        return value
    raise ValueError(f"cannot evaluate {expr!r}")


def module_scope(directory: Path, name_prefix: str) -> dict[str, Any]:
    scope: dict[str, Any] = {"var": {"name_prefix": name_prefix}}
    scope["local"] = module_locals(directory)
    return scope


def env_name_prefix(env: str) -> str:
    env_vars = variables(ENVS / env)
    scope = {"var": {name: unquote(body.get("default")) for name, body in env_vars.items()}}
    return evaluate(module_locals(PLATFORM)["name_prefix"], scope)


@cache
def manifest() -> manifest_mod.Manifest:
    return manifest_mod.build(Settings(name_prefix=f"mtx-{ENV}"))


def settings() -> Settings:
    return manifest().settings


def names_of(directory: Path, rtype: str, attr: str, name: str = "this") -> dict[str, str]:
    """Evaluate a name attribute of a resource (for_each over a local map, or a single one)."""
    body = resource(directory, rtype, name)
    scope = module_scope(directory, f"mtx-{ENV}")
    for_each = body.get("for_each")
    if for_each is None:
        return {"": evaluate(body[attr], scope)}
    items = evaluate(for_each, scope)
    result = {}
    for key, value in items.items():
        scope["each"] = {"key": key, "value": value}
        result[key] = evaluate(body[attr], scope)
    return result


# --- conventions ------------------------------------------------------------------------------------


def test_every_variable_has_a_description() -> None:
    missing = [
        f"{path.relative_to(REPO)}: {unquote(name)}"
        for path in tf_files()
        for entry in parsed(path).get("variable", [])
        for name, body in entry.items()
        if not str(unquote(body.get("description", ""))).strip()
    ]
    assert not missing, f"variables without a description: {missing}"


def test_a_lone_resource_of_a_type_is_named_this() -> None:
    offenders = []
    for directory in sorted({p.parent for p in tf_files()}):
        by_type: dict[str, list[str]] = {}
        for rtype, name, _ in blocks(directory, "resource"):
            by_type.setdefault(rtype, []).append(name)
        offenders += [
            f"{directory.relative_to(TF)}: {t}.{n[0]}" for t, n in by_type.items() if n != ["this"] and len(n) == 1
        ]
    assert not offenders, f"lone resources not named `this`: {offenders}"


def test_modules_have_the_standard_files() -> None:
    for directory in sorted(p for p in MODULES.iterdir() if p.is_dir()):
        present = {p.name for p in directory.glob("*.tf")}
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= present, directory.name


def test_outputs_have_descriptions() -> None:
    missing = [
        f"{path.relative_to(REPO)}: {unquote(name)}"
        for path in tf_files()
        for entry in parsed(path).get("output", [])
        for name, body in entry.items()
        if not str(unquote(body.get("description", ""))).strip()
    ]
    assert not missing, missing


def _outputs(directory: Path) -> dict[str, dict[str, Any]]:
    return {
        unquote(k): v
        for path in sorted(directory.glob("*.tf"))
        for e in parsed(path).get("output", [])
        for k, v in e.items()
    }


#: variables an env root reads itself: its provider (region, allowed_account_ids, the local endpoint)
#: and the cost-allocation tags of the provider's default_tags (project and environment go to both)
ROOT_ONLY_VARIABLES = {"region", "allowed_account_ids", "aws_endpoint_url", "cost_center", "owner", "extra_tags"}


@pytest.mark.parametrize("env", ["dev", "prod", "local"])
def test_each_environment_is_a_thin_root_over_the_composition_module(env: str) -> None:
    """One composition (modules/platform) and three thin roots: each env's main.tf only calls it, with
    every variable it declares passed through under the same name; the env roots hold no resource, data
    source or module of their own, and their outputs are the module's, passed through."""
    root = ENVS / env
    main = parsed(root / "main.tf")
    assert set(main) - {"__comments__"} <= {"module", "moved"}, set(main)
    [call] = [{unquote(k): v for k, v in e.items()} for e in main["module"]]
    assert list(call) == ["platform"]
    body = call["platform"]
    assert unquote(body["source"]) == "../../modules/platform"
    for path in root.glob("*.tf"):
        assert not {"resource", "data", "module"} & set(parsed(path)) or path.name == "main.tf", path.name
    assert set(module_locals(root)) == {"tags"}  # the provider's default_tags only

    module_vars, env_vars = variables(PLATFORM), variables(root)
    passed = {k: v for k, v in body.items() if k not in ("source", "__is_block__")}
    assert set(passed) <= set(module_vars), f"arguments the module does not declare: {set(passed) - set(module_vars)}"
    assert all(v == f"${{var.{k}}}" for k, v in passed.items()), "pass the env's variable of the same name"
    # every variable the module needs is passed through or defaulted in the module
    required = {name for name, v in module_vars.items() if "default" not in v}
    assert required <= set(passed), f"{env}: the module needs {required - set(passed)}"
    # every variable the env declares is passed to the module or read by the root itself
    assert set(env_vars) == set(passed) | (ROOT_ONLY_VARIABLES & set(env_vars)), env
    for name in set(passed) & set(module_vars):
        assert env_vars[name].get("ephemeral", False) == module_vars[name].get("ephemeral", False), name

    outputs, module_outputs = _outputs(root), _outputs(PLATFORM)
    assert set(outputs) == set(module_outputs)
    for name, out in outputs.items():
        assert out["value"] == f"${{module.platform.{name}}}", name
        assert out["description"] == module_outputs[name]["description"], name


#: modules added after modules/platform existed: no state ever held them at the root, nothing to move
MODULES_SINCE_THE_COMPOSITION = {"stream"}


@pytest.mark.parametrize("env", ["dev", "prod", "local"])
def test_existing_states_move_under_the_composition_module(env: str) -> None:
    """The modules the env roots called before modules/platform existed: a moved block each, so that a
    plan of an existing dev/prod state moves module.<name> to module.platform.module.<name>."""
    moved = {(m["from"], m["to"]) for m in parsed(ENVS / env / "main.tf").get("moved", [])}
    calls = {name: call for name, call in module_calls().items() if name not in MODULES_SINCE_THE_COMPOSITION}
    assert len(calls) == 15
    assert moved == {(f"${{module.{name}}}", f"${{module.platform.module.{name}}}") for name in calls}


def test_environments_differ_only_by_their_variables() -> None:
    """dev and prod: the same root but for variable defaults; local: its own provider (endpoints at the
    moto server) and state, no AWS account guard."""
    for name in ("main.tf", "providers.tf", "versions.tf", "outputs.tf"):
        dev, prod = ((ENVS / env / name).read_text() for env in ("dev", "prod"))
        assert dev.replace("The dev environment", "") == prod.replace("The prod environment", ""), name
    assert (ENVS / "local" / "outputs.tf").read_text() == (ENVS / "dev" / "outputs.tf").read_text()
    dev, local = variables(ENVS / "dev"), variables(ENVS / "local")
    assert set(local) == set(dev) - {"allowed_account_ids"} | {"aws_endpoint_url"}
    assert local["external_databases"]["default"] is None  # set by `mtx up --terraform`, never by default
    assert "default" not in variables(PLATFORM)["environment"]


def test_the_local_environment_reaches_nothing_but_the_local_endpoint() -> None:
    provider = {unquote(k): v for k, v in parsed(ENVS / "local" / "providers.tf")["provider"][0].items()}["aws"]
    endpoints = {k: v for k, v in provider["endpoints"][0].items() if not k.startswith("__")}
    assert endpoints and {unquote(v) for v in endpoints.values()} == {"${var.aws_endpoint_url}"}
    used = {m.group(1) for path in tf_files() for m in re.finditer(r'resource "aws_([a-z0-9]+)_', path.read_text())}
    service_of = {"api": "apigateway", "cloudwatch": "cloudwatch", "db": "rds", "default": "ec2", "flow": "ec2",
                  "route": "ec2", "security": "ec2", "subnet": "ec2", "vpc": "ec2", "sfn": "sfn",
                  "redshiftserverless": "redshiftserverless", "glue": "glue", "iam": "iam", "kms": "kms",
                  "lambda": "lambda", "s3": "s3", "scheduler": "scheduler", "secretsmanager": "secretsmanager",
                  "sns": "sns", "sqs": "sqs", "wafv2": "wafv2", "dynamodb": "dynamodb"}  # fmt: skip
    assert {service_of.get(prefix, prefix) for prefix in used} <= {unquote(k) for k in endpoints}
    for flag in ("skip_credentials_validation", "skip_requesting_account_id", "skip_metadata_api_check"):
        assert provider[flag] is True, flag
    assert "access_key" not in provider and "secret_key" not in provider  # moto's keys come from the environment
    for env in ("dev", "prod"):
        assert (ENVS / env / "terraform.tfvars.example").is_file()
        assert (ENVS / env / "backend.hcl.example").is_file()


def test_prod_keeps_the_protections_dev_turns_off() -> None:
    """The justification of the checkov skips CKV_AWS_157/CKV_AWS_293 on the RDS instance."""
    prod = variables(ENVS / "prod")
    assert prod["deletion_protection"]["default"] is True
    assert prod["db_multi_az"]["default"] is True
    assert prod["force_destroy"]["default"] is False
    assert variables(MODULES / "database")["multi_az"]["default"] is True
    assert variables(MODULES / "database")["deletion_protection"]["default"] is True


def test_versions_are_pinned() -> None:
    for env in ("dev", "prod"):
        block = parsed(ENVS / env / "versions.tf")["terraform"][0]
        assert unquote(block["required_version"]).startswith(">= 1.11")
        aws = block["required_providers"][0]["aws"]
        assert unquote(aws["source"]) == "hashicorp/aws" and unquote(aws["version"]) == "5.100.0"
        assert "s3" in {unquote(k) for entry in block["backend"] for k in entry}
    for directory in MODULES.iterdir():
        if directory.is_dir():
            block = parsed(directory / "versions.tf")["terraform"][0]
            assert unquote(block["required_providers"][0]["aws"]["version"]) == ">= 5.100.0, < 6.0.0", directory.name


def test_cost_allocation_tags_on_everything() -> None:
    provider = {unquote(k): v for k, v in parsed(ENVS / ENV / "providers.tf")["provider"][0].items()}["aws"]
    assert provider["default_tags"][0]["tags"] == "${local.tags}"
    tags = module_locals(ENVS / ENV)["tags"]
    for key in ("Project", "Environment", "CostCenter", "Owner", "ManagedBy"):
        assert key in tags


def test_every_checkov_skip_is_justified_next_to_its_resource() -> None:
    skip = re.compile(r"#\s*checkov:skip=(CKV2?_AWS_\d+)(.*)")
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = skip.search(line)
            if m:
                reason = m.group(2).lstrip(":").strip()
                assert len(reason) >= 30, f"{path.relative_to(REPO)}:{number}: {m.group(1)} skipped without a reason"


# --- names: the manifest of the local runtime == what Terraform creates ------------------------------


def test_name_prefix_is_project_dash_environment() -> None:
    for env in ("dev", "prod"):
        assert module_locals(PLATFORM)["name_prefix"] == '"${var.project}-${var.environment}"'
        assert env_name_prefix(env) == f"mtx-{env}"
    for name, call in module_calls().items():
        if "name_prefix" in variables(module_dir(call)):
            assert call["name_prefix"] == "${local.name_prefix}", name


def test_bucket_names_match_the_manifest() -> None:
    body = resource(MODULES / "storage", "aws_s3_bucket")
    assert body["for_each"] == "${local.buckets}" and body["bucket"] == "${each.value}"
    assert set(names_of(MODULES / "storage", "aws_s3_bucket", "bucket").values()) == set(manifest().buckets)


def test_tables_match_the_manifest_with_keys_and_ttl() -> None:
    scope = module_scope(MODULES / "tables", f"mtx-{ENV}")
    tables = evaluate("${local.tables}", scope)
    terraform = {
        (
            evaluate(t["name"], scope),
            unquote(t["hash_key"]),
            None if t["ttl_attribute"] is None else unquote(t["ttl_attribute"]),
            None if t["range_key"] is None else unquote(t["range_key"]),
        )
        for t in tables.values()
    }
    assert terraform == {(t.name, t.hash_key, t.ttl_attribute, t.range_key) for t in manifest().tables}
    body = resource(MODULES / "tables", "aws_dynamodb_table")
    assert body["name"] == "${each.value.name}" and body["hash_key"] == "${each.value.hash_key}"
    assert body["range_key"] == "${each.value.range_key}"
    assert body["point_in_time_recovery"][0]["enabled"] is True
    assert body["server_side_encryption"][0]["enabled"] is True


def test_queue_topic_secrets_and_glue_database_match_the_manifest() -> None:
    m = manifest()
    assert list(names_of(MODULES / "messaging", "aws_sqs_queue", "name").values()) == list(m.queues)
    assert list(names_of(MODULES / "messaging", "aws_sns_topic", "name").values()) == list(m.topics)
    secrets = [
        *names_of(MODULES / "database", "aws_secretsmanager_secret", "name").values(),
        *names_of(MODULES / "warehouse", "aws_secretsmanager_secret", "name").values(),
        *names_of(MODULES / "database_roles", "aws_secretsmanager_secret", "name").values(),
    ]
    assert sorted(secrets) == sorted(m.secrets)
    assert list(names_of(MODULES / "glue", "aws_glue_catalog_database", "name").values()) == list(m.glue_databases)


def terraform_functions() -> dict[str, dict[str, Any]]:
    """The functions module lambda creates: those of infra/functions.json, which it reads itself."""
    local = module_locals(MODULES / "lambda")
    assert local["functions_file"] == '${jsondecode(file("${path.module}/../../../functions.json")).functions}'
    assert (MODULES / "lambda" / "../../../functions.json").resolve() == manifest_mod.FUNCTIONS_FILE
    assert local["functions"].startswith("${{for short, f in local.functions_file : short => {")
    functions: dict[str, dict[str, Any]] = json.loads(manifest_mod.FUNCTIONS_FILE.read_text())["functions"]
    return functions


def test_lambda_functions_match_the_manifest() -> None:
    scope = module_scope(MODULES / "lambda", f"mtx-{ENV}")
    functions = terraform_functions()
    assert {short: f["handler"] for short, f in functions.items()} == manifest().lambdas
    expr = module_locals(MODULES / "lambda")["function_names"]
    name_expr = re.search(r"=> (.+)\}\}$", expr).group(1)  # type: ignore[union-attr]
    for short in functions:
        assert evaluate(name_expr, {**scope, "short": short}) == settings().function_name(short)
    body = resource(MODULES / "lambda", "aws_lambda_function")
    assert body["for_each"] == "${local.functions}"
    assert body["function_name"] == "${local.function_names[each.key]}"
    assert body["memory_size"] == "${each.value.memory}" and body["timeout"] == "${each.value.timeout}"
    assert unquote(body["tracing_config"][0]["mode"]) == "Active"
    assert "vpc_config" in body


def test_state_machines_match_the_manifest() -> None:
    scope = module_scope(MODULES / "state_machines", f"mtx-{ENV}")
    names_expr = module_locals(MODULES / "state_machines")["names"]
    name_expr = re.search(r"=> (.+)\}\}$", names_expr).group(1)  # type: ignore[union-attr]
    types = {k: unquote(v) for k, v in variables(MODULES / "state_machines")["workflow_types"]["default"].items()}
    workflows = getattr(manifest_mod, "WORKFLOWS", None)
    if workflows is not None:
        assert types == workflows
    deployed = {p.name.removesuffix(".asl.json") for p in STATE_MACHINES_DIR.glob("*.asl.json")}
    assert {sm.workflow for sm in manifest().state_machines} == deployed
    for sm in manifest().state_machines:
        assert evaluate(name_expr, {**scope, "w": sm.workflow}) == settings().state_machine_name(sm.workflow)
        assert types[sm.workflow] == sm.type
    locals_ = module_locals(MODULES / "state_machines")
    assert locals_["workflows"].startswith('${{for f in fileset(var.state_machines_dir, "*.asl.json")')
    assert module_calls()["state_machines"]["state_machines_dir"] == '"${local.repo_root}/orchestration/state_machines"'


def test_settings_variables_are_those_of_the_settings_reader() -> None:
    """MTX_* of Settings.to_env(), less the local endpoint; values name the same resources."""
    s = settings()
    expected = set(s.to_env()) - {"AWS_REGION"}
    env_settings = module_locals(PLATFORM)["settings"]
    assert set(env_settings) == expected
    calls = module_calls()
    for key, expr in env_settings.items():
        field = key.removeprefix("MTX_").lower()
        m = re.fullmatch(r"\$\{module\.(\w+)\.(\w+)(?:\[\"(\w+)\"\])?\}", expr)
        if not m:
            continue
        module, output, item = m.groups()
        assert resolve_output(module_dir(calls[module]), output, item) == getattr(s, field), key
    assert evaluate(env_settings["MTX_NAME_PREFIX"], {"local": {"name_prefix": env_name_prefix(ENV)}}) == s.name_prefix
    lambda_call = calls["lambda"]
    assert lambda_call["environment"] == "${local.settings}"


def resolve_output(directory: Path, output: str, item: str | None) -> str:
    """The name a module output yields, following it to the resource attribute that sets it."""
    value = None
    for entry in parsed(directory / "outputs.tf").get("output", []):
        if unquote(next(iter(entry))) == output:
            value = next(iter(entry.values()))["value"]
    assert value is not None, f"no output {output} in {directory.name}"
    m = re.fullmatch(r"\$\{\{for k, \w+ in (\w+)\.(\w+) : k => \w+\.(\w+)\}\}", value)
    if m:
        rtype, name, attr = m.groups()
        return names_of(directory, rtype, attr, name)[item]  # type: ignore[index]
    m = re.fullmatch(r"\$\{(\w+)\.(\w+)\.(\w+)\}", value)
    assert m, f"cannot follow output {output} = {value}"
    rtype, name, attr = m.groups()
    return names_of(directory, rtype, attr, name)[""]


# --- cross-checks: ASL placeholders, Lambda ARNs, handlers ---------------------------------------------


def asl_files() -> list[Path]:
    files = sorted(STATE_MACHINES_DIR.glob("*.asl.json"))
    assert files, "no ASL file"
    return files


def terraform_placeholders() -> set[str]:
    expr = module_locals(PLATFORM)["template_values"]
    static = set(re.findall(r"(\w+) = module\.", expr))
    assert '"${short}_function_arn" => arn' in expr
    return static | {f"{short}_function_arn" for short in terraform_functions()}


def test_templatefile_supplies_every_placeholder_of_every_asl_file() -> None:
    supplied = terraform_placeholders()
    for path in asl_files():
        missing = set(PLACEHOLDER.findall(path.read_text())) - supplied
        assert not missing, f"{path.name}: Terraform's templatefile() has no value for {sorted(missing)}"
    expected = set(manifest().placeholders({settings().dead_letter_queue_name: "https://queue"}))
    assert supplied == expected, "Terraform's template values differ from Manifest.placeholders()"
    definitions = module_locals(MODULES / "state_machines")["definitions"]
    assert "templatefile(path, var.template_values)" in definitions
    assert module_calls()["state_machines"]["template_values"] == "${local.template_values}"


def test_every_lambda_a_state_machine_invokes_is_created_with_an_existing_handler() -> None:
    functions = terraform_functions()
    for path in asl_files():
        text = path.read_text()
        for short in re.findall(r"\$\{(\w+)_function_arn\}", text):
            assert short in functions, f"{path.name} invokes {short}, which Terraform does not create"
            handler = functions[short]["handler"]
            module_name, func = handler.rsplit(".", 1)
            source = REPO / Path(*module_name.split(".")).with_suffix(".py")
            assert source.is_file(), f"{short}: no {source.relative_to(REPO)}"
            tree = ast.parse(source.read_text())
            assert any(isinstance(n, ast.FunctionDef) and n.name == func for n in tree.body), f"{short}: no {handler}"
        assert "arn:aws:lambda:" not in text, f"{path.name}: a Lambda ARN is written in"


def test_execution_data_is_never_logged() -> None:
    body = resource(MODULES / "state_machines", "aws_sfn_state_machine")
    logging = body["logging_configuration"][0]
    assert logging["include_execution_data"] is False
    assert body["tracing_configuration"][0]["enabled"] is True
    stage = resource(MODULES / "api", "aws_api_gateway_method_settings")
    assert stage["settings"][0]["data_trace_enabled"] is False


def test_the_api_validates_against_the_committed_contract_schema() -> None:
    assert module_calls()["api"]["schema_path"] == '"${local.repo_root}/contracts/transaction.schema.json"'
    assert "file(var.schema_path)" in module_locals(MODULES / "api")["contract_schema"]
    schema = json.loads((REPO / "contracts" / "transaction.schema.json").read_text())
    draft4 = {
        "$defs", "$ref", "$schema", "$id", "additionalProperties", "anyOf", "default", "description", "enum",
        "examples", "format", "items", "maxLength", "minLength", "maximum", "minimum", "pattern", "properties",
        "required", "title", "type", "allOf", "oneOf", "maxItems", "minItems",
    }  # fmt: skip

    def keywords(node: Any, parent: str = "") -> set[str]:
        found: set[str] = set()
        if isinstance(node, dict):
            for key, value in node.items():
                if parent not in {"properties", "$defs"} and not key.startswith("x-"):
                    found.add(key)
                found |= keywords(value, key)
        elif isinstance(node, list):
            for value in node:
                found |= keywords(value)
        return found

    unsupported = keywords(schema) - draft4
    assert not unsupported, f"API Gateway models are JSON Schema draft 4; the contract uses {unsupported}"
    method = resource(MODULES / "api", "aws_api_gateway_method")
    assert method["request_validator_id"] == "${aws_api_gateway_request_validator.this.id}"


# --- IAM ------------------------------------------------------------------------------------------------

#: Actions that support no resource-level permissions: a statement of only these may use "*".
NO_RESOURCE_LEVEL = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs",
    "ec2:DescribeVpcEndpoints", "ec2:DescribeRouteTables", "logs:DescribeLogGroups", "logs:CreateLogDelivery",
    "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
    "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "glue:GetSecurityConfiguration",
    "cloudwatch:PutMetricData", "redshift-data:DescribeStatement", "redshift-data:GetStatementResult",
    "redshift-data:CancelStatement", "redshift-data:ListStatements",
}  # fmt: skip


def policy_statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for directory in sorted(p for p in MODULES.iterdir() if p.is_dir()):
        for rtype, name, body in blocks(directory, "data"):
            if rtype == "aws_iam_policy_document":
                found += [(f"{directory.name}/{name}", st) for st in body.get("statement", [])]
    return found


def test_no_statement_allows_every_action() -> None:
    actions: list[tuple[str, str]] = []
    for where, statement in policy_statements():
        if unquote(statement.get("effect", '"Allow"')) == "Deny":
            continue
        listed = statement.get("actions", [])
        actions += [(where, a) for a in (listed if isinstance(listed, list) else [listed])]
    # the per-function statements of the Lambdas and the integrations of the state machines
    lambda_permissions = module_locals(MODULES / "lambda")["permissions"]
    actions += [
        ("lambda/permissions", a)
        for a in re.findall(r'"([a-z0-9-]+:[A-Za-z*]+)"', json.dumps(lambda_permissions).replace('\\"', '"'))
    ]
    integrations = module_locals(MODULES / "state_machines")["integrations"]
    actions += [("state_machines/integrations", a) for v in integrations.values() for a in v["actions"]]
    wildcard = [(w, a) for w, a in actions if unquote(a) == "*" or unquote(a).endswith(":*")]
    assert not wildcard, f"statements allowing every action: {wildcard}"
    assert len(actions) > 50


def test_star_resources_only_where_aws_has_nothing_narrower_and_commented() -> None:
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r'resources\s*=\s*\["\*"\]', line):
                assert "#" in line, f"{path.relative_to(REPO)}:{number}: '*' resource without a comment"
    for where, statement in policy_statements():
        resources = statement.get("resources", [])
        if resources != ['"*"'] and resources != "*" and resources != ["*"]:
            continue
        if where == "kms/this" or unquote(statement.get("effect", '"Allow"')) == "Deny":
            continue  # a key policy's "*" is the key itself; Deny statements deny everything on purpose
        listed = {unquote(a) for a in statement["actions"]}
        assert listed <= NO_RESOURCE_LEVEL, f"{where}: '*' resource for {sorted(listed - NO_RESOURCE_LEVEL)}"


def test_one_role_per_function_state_machine_and_job() -> None:
    assert resource(MODULES / "lambda", "aws_iam_role")["for_each"] == "${local.function_names}"
    assert resource(MODULES / "state_machines", "aws_iam_role")["for_each"] == "${local.names}"
    glue_roles = {n for t, n, _ in blocks(MODULES / "glue", "resource") if t == "aws_iam_role"}
    assert glue_roles == {"crawler", "job"}
    lambda_permissions = module_locals(MODULES / "lambda")["permissions"]
    assert set(lambda_permissions) == set(terraform_functions()), "every function needs its own permission entry"


# --- Glue and packaging -------------------------------------------------------------------------------------


def test_the_crawler_reads_the_shared_definition() -> None:
    call = module_calls()["glue"]
    assert call["crawler_definition_path"] == '"${local.repo_root}/glue_jobs/crawlers/transactions.json"'
    assert module_locals(MODULES / "glue")["crawler"] == "${jsondecode(file(var.crawler_definition_path))}"
    definition = json.loads((REPO / "glue_jobs" / "crawlers" / "transactions.json").read_text())
    for key in ("name_suffix", "s3_target", "schema_change_policy", "recrawl_policy", "configuration", "table_name"):
        assert key in definition, key
    buckets = evaluate("${local.buckets}", module_scope(MODULES / "storage", f"mtx-{ENV}"))
    assert definition["s3_target"]["bucket"] in buckets


def test_the_glue_job_runs_the_same_script_with_the_arguments_it_reads() -> None:
    call = module_calls()["glue"]
    assert call["script_path"] == '"${local.repo_root}/glue_jobs/flatten_transactions/job.py"'
    script = REPO / "glue_jobs" / "flatten_transactions" / "job.py"
    assert script.is_file()
    # the entry point reads the names of flatten_transactions/arguments.py
    assert "from glue_jobs.flatten_transactions.arguments import" in script.read_text()
    tree = ast.parse((script.parent / "arguments.py").read_text())
    consts = {
        t.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and t.id in {"REQUIRED_ARGS", "OPTIONAL_ARGS"}
    }
    job = resource(MODULES / "glue", "aws_glue_job")
    given = set(re.findall(r'"--(\w+)" = ', job["default_arguments"]))
    assert set(consts["REQUIRED_ARGS"]) - {"JOB_NAME"} <= given  # Glue passes --JOB_NAME itself
    assert given & set(consts["OPTIONAL_ARGS"]) >= {"warehouse_secret_id", "redshift_copy_role_arn"}
    assert unquote(variables(MODULES / "glue")["glue_version"]["default"]) == "5.1"
    assert '"--job-bookmark-option" = "job-bookmark-enable"' in job["default_arguments"]


def _lock_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


@pytest.mark.parametrize(
    "name", ["lambda-layer.txt", "lambda-layer-no-deps.txt", "glue-wheels.txt", "analytics-image.txt"]
)
def test_deployed_dependencies_match_the_lock(name: str) -> None:
    lock = _lock_pins()
    for line in (REPO / "infra" / "requirements" / name).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]+\])?==(\S+)", line)
        if m:
            assert lock.get(m.group(1).lower()) == m.group(3), (
                f"{name}: {line} but requirements.lock has {lock.get(m.group(1).lower())}"
            )


def test_the_function_package_holds_every_handler_and_the_settings_reader() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("mtx_package", REPO / "infra" / "scripts" / "package.py")
    assert spec and spec.loader
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    files = {p.relative_to(REPO).as_posix() for p in package.function_files()}
    for handler in manifest().lambdas.values():
        assert handler.rsplit(".", 1)[0].replace(".", "/") + ".py" in files
    assert {"contracts/config.py", "contracts/transaction.schema.json"} <= files
    # what the package must not hold is tests/unit/infra/test_package_contents.py's


# --- the HTTP surface --------------------------------------------------------------------------------------


def api_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every method of modules/api, the paths rebuilt from the resources' parents."""
    directory = MODULES / "api"
    parents: dict[str, tuple[str, str]] = {}
    for rtype, name, body in blocks(directory, "resource"):
        if rtype == "aws_api_gateway_resource":
            parents[name] = (body["parent_id"], unquote(body["path_part"]))

    def path_of(name: str) -> str:
        parent, part = parents[name]
        if parent == "${aws_api_gateway_rest_api.this.root_resource_id}":
            return f"/{part}"
        m = re.fullmatch(r"\$\{aws_api_gateway_resource\.(\w+)\.id\}", parent)
        assert m, f"aws_api_gateway_resource.{name}: unexpected parent_id {parent}"
        return f"{path_of(m.group(1))}/{part}"

    local = module_locals(directory)
    resource_ids = {unquote(k): v for k, v in local["resource_ids"].items()}
    for path, ref in resource_ids.items():
        m = re.fullmatch(r"\$\{aws_api_gateway_resource\.(\w+)\.id\}", ref)
        assert m and path_of(m.group(1)) == path, f"local.resource_ids[{path!r}] is {ref}, which is not that path"

    routes = set()
    for rtype, name, body in blocks(directory, "resource"):
        if rtype != "aws_api_gateway_method":
            continue
        if "for_each" not in body:  # one route: POST /transactions, POST /events (count), GET /openapi.json
            m = re.fullmatch(r"\$\{aws_api_gateway_resource\.(\w+)(?:\[0\])?\.id\}", body["resource_id"])
            assert m, body["resource_id"]
            routes.add((unquote(body["http_method"]), path_of(m.group(1))))
        else:
            assert body["for_each"] == "${local.analytics_routes}", f"aws_api_gateway_method.{name}"
            assert body["resource_id"] == "${local.resource_ids[each.value.path]}"
            assert unquote(body["http_method"]) == "${each.value.method}"
            for route in local["analytics_routes"].values():
                assert unquote(route["path"]) in resource_ids, route
                routes.add((unquote(route["method"]), unquote(route["path"])))
    return routes


def test_a_body_the_gateway_refuses_is_answered_without_the_validators_text() -> None:
    """API Gateway's validationErrorString quotes the offending value: an error never carries one."""
    response = resource(MODULES / "api", "aws_api_gateway_gateway_response", "this")
    template = str(response["response_templates"])
    assert unquote(response["response_type"]) == "BAD_REQUEST_BODY"
    assert "validationErrorString" not in template and "InvalidTransaction" in template


def test_the_api_document_is_served_by_a_mock_integration_open_to_anyone() -> None:
    directory = MODULES / "api"
    method = resource(directory, "aws_api_gateway_method", "openapi")
    assert unquote(method["authorization"]) == "NONE" and unquote(method["http_method"]) == "GET"
    assert unquote(resource(directory, "aws_api_gateway_integration", "openapi")["type"]) == "MOCK"
    template = resource(directory, "aws_api_gateway_integration_response", "openapi")["response_templates"]
    assert "file(var.openapi_path)" in str(template) and "#[[" in str(template)
    assert "]]#" not in (REPO / "orchestration" / "openapi.json").read_text()  # the unparsed block stays whole
    assert module_calls()["api"]["openapi_path"] == '"${local.repo_root}/orchestration/openapi.json"'


def test_the_api_routes_are_those_of_the_openapi_document() -> None:
    document = json.loads((REPO / "orchestration" / "openapi.json").read_text())
    http_methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item if method in http_methods
    }
    assert api_routes() == documented


def test_every_analytics_route_is_integrated_and_invocable() -> None:
    directory = MODULES / "api"
    integration = resource(directory, "aws_api_gateway_integration", "analytics")
    assert integration["for_each"] == "${local.analytics_routes}"
    assert unquote(integration["type"]) == "AWS_PROXY"
    assert integration["uri"] == "${var.analytics_function_invoke_arn}"
    permission = resource(directory, "aws_lambda_permission")
    assert permission["for_each"] == "${local.analytics_routes}"
    assert permission["function_name"] == "${var.analytics_function_name}"
    call = module_calls()["api"]
    assert call["analytics_function_name"] == '${module.lambda.function_names["analytics_api"]}'
    assert call["analytics_function_invoke_arn"] == '${module.lambda.invoke_arns["analytics_api"]}'


def test_file_events_eventbridge_cannot_deliver_are_kept_in_an_encrypted_queue() -> None:
    """The batch-ingest target retries for an hour, then puts the event in a queue of its own (a file whose
    event was dropped would sit in incoming/ with no run), KMS-encrypted, writable by that rule only."""
    triggers = MODULES / "triggers"
    target = resource(triggers, "aws_cloudwatch_event_target")
    [dead_letter] = target["dead_letter_config"]
    assert unquote(dead_letter["arn"]) == "${aws_sqs_queue.this[0].arn}"
    [retry] = target["retry_policy"]
    assert retry["maximum_retry_attempts"] > 0 and retry["maximum_event_age_in_seconds"] >= 3600
    queue = resource(triggers, "aws_sqs_queue")
    assert unquote(queue["kms_master_key_id"]) == "${var.kms_key_arn}"
    [(_, _, policy)] = [b for b in blocks(triggers, "data") if b[:2] == ("aws_iam_policy_document", "undelivered")]
    allow = next(s for s in policy["statement"] if unquote(s.get("effect", '"Allow"')) == "Allow")
    assert [unquote(a) for a in allow["actions"]] == ["sqs:SendMessage"]
    [condition] = allow["condition"]
    assert [unquote(v) for v in condition["values"]] == ["${aws_cloudwatch_event_rule.this[0].arn}"]


# --- who may call which route (issue 19, item 4) ---------------------------------------------------------


def test_analytics_routes_are_sigv4_and_transactions_iam_or_the_producers_key() -> None:
    """Analysts sign (AWS_IAM) every analytics route; POST /transactions is AWS_IAM by default, or, where
    API_KEY is chosen, each producer's own key. orchestration/runtime/auth.py holds the same split locally."""
    from orchestration.runtime.auth import ANALYST, PRODUCER, ROUTE_ROLES

    directory = MODULES / "api"
    analytics = resource(directory, "aws_api_gateway_method", "analytics")
    assert unquote(analytics["authorization"]) == "AWS_IAM" and analytics["api_key_required"] is False
    transactions = resource(directory, "aws_api_gateway_method")
    assert transactions["authorization"] == '${local.api_key_required ? "NONE" : "AWS_IAM"}'
    assert transactions["api_key_required"] == "${local.api_key_required}"
    assert module_locals(directory)["api_key_required"] == '${var.producer_authorization == "API_KEY"}'
    variable = variables(directory)["producer_authorization"]
    assert unquote(variable["default"]) == "AWS_IAM"
    # the roles of the routes: the producer's on POST /transactions, the analyst's on the analytics ones
    routes = {(unquote(r["method"]), unquote(r["path"])) for r in module_locals(directory)["analytics_routes"].values()}
    assert {r for r, role in ROUTE_ROLES.items() if role == ANALYST} == routes
    producer_routes = {("POST", "/transactions"), ("POST", "/events")}
    assert {r for r, role in ROUTE_ROLES.items() if role == PRODUCER} == producer_routes
    # POST /events: the producers' authorization of POST /transactions, whichever it is, and the same key
    events = resource(directory, "aws_api_gateway_method", "events")
    assert events["authorization"] == "${aws_api_gateway_method.this.authorization}"
    assert events["api_key_required"] == "${local.api_key_required}"


def test_no_default_key_in_any_environment() -> None:
    """API keys are generated by API Gateway per producer: no key value in any .tf or tfvars example, no
    environment defaults to keys, and keys without producers fail validation (modules/api/tests)."""
    key = resource(MODULES / "api", "aws_api_gateway_api_key")
    assert "value" not in key
    assert key["for_each"] == "${local.key_producers}"
    assert unquote(key["enabled"]) == "${each.value.enabled}"
    for env in ("dev", "prod", "local"):
        env_vars = variables(ENVS / env)
        assert unquote(env_vars["api_producer_authorization"]["default"]) == "AWS_IAM", env
        assert env_vars["api_producers"]["default"] == {}, env
        call = module_calls(env)["api"]
        assert call["producers"] == "${var.api_producers}"
        assert call["producer_authorization"] == "${var.api_producer_authorization}"
    validations = [unquote(v["condition"]) for v in variables(MODULES / "api")["producers"]["validation"]]
    assert '${var.producer_authorization != "API_KEY" || length(var.producers) > 0}' in validations
    for path in [*tf_files(), *ENVS.glob("*/terraform.tfvars.example")]:
        assert not re.search(r"(?m)^\s*value\s*=\s*\"[A-Za-z0-9]{20,}\"", path.read_text()), path


def test_each_producer_is_its_own_identity_and_reaches_the_workflow_input() -> None:
    directory = MODULES / "api"
    role = resource(directory, "aws_iam_role", "producer")
    assert role["for_each"] == "${local.role_producers}"
    assert unquote(role["name"]) == "${var.name_prefix}-producer-${each.key}"
    plan_key = resource(directory, "aws_api_gateway_usage_plan_key")
    assert plan_key["for_each"] == "${aws_api_gateway_api_key.this}"
    templates = resource(directory, "aws_api_gateway_integration")["request_templates"]
    template = {unquote(k): v for k, v in templates.items()}["application/json"]
    assert "${local.producer_mapping}" in template
    assert '\\"producer_id\\": \\"$util.escapeJavaScript($producer)\\"' in template
    assert "$context.identity.apiKeyId" in template and "$context.identity.userArn" in template
    mapping = module_locals(directory)["producer_mapping"]
    assert "aws_api_gateway_api_key.this" in mapping and "aws_iam_role.producer" in mapping


def test_each_role_may_invoke_its_own_routes_only_and_analysts_are_named() -> None:
    directory = MODULES / "api"
    docs = {name: body for t, name, body in blocks(directory, "data") if t == "aws_iam_policy_document"}

    def dynamic_statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
        return [d['"statement"']["content"][0] for d in doc.get("dynamic", [])]

    allow, deny = dynamic_statements(docs["producer_invoke"])
    assert [unquote(a) for a in allow["actions"]] == ["execute-api:Invoke"] and "effect" not in allow
    assert allow["resources"] == "${local.producer_route_arns}"  # POST /transactions and /events, nothing else
    assert module_locals(directory)["producer_route_arns"] == (
        "${concat([local.transactions_arn], local.enable_events ? [local.events_arn] : [])}"
    )
    assert module_locals(directory)["events_arn"].endswith('/${var.stage_name}/POST/events"')
    assert unquote(deny["effect"]) == "Deny" and deny["resources"] == ["${local.every_route_arn}"]  # disabled
    [analyst] = docs["analyst_invoke"]["statement"]
    assert analyst["resources"] == "${local.analytics_arns}"
    assumed = docs["analyst_assume"]["statement"][0]["principals"][0]
    assert assumed["identifiers"] == "${var.analyst_principal_arns}"  # no account-root fallback
    validation = variables(directory)["analyst_principal_arns"]["validation"][0]
    assert "(role|user)" in unquote(validation["condition"])
    assert module_locals(directory)["transactions_arn"].endswith('/${var.stage_name}/POST/transactions"')
    # the resource policy denies each route to every identity but its own
    policy = docs["rest_api"]
    denies = [st for st in [*policy.get("statement", []), *dynamic_statements(policy)] if "effect" in st]
    assert {unquote(d["sid"]): d["resources"] for d in denies} == {
        "OnlyTheAnalystRoleQueries": "${local.analytics_arns}",
        "OnlyProducerRolesSendTransactions": "${local.producer_route_arns}",
    }
    assert all(unquote(d["condition"][0]["variable"]) == "aws:PrincipalArn" for d in denies)
    policy_resource = resource(directory, "aws_api_gateway_rest_api_policy")
    assert policy_resource["policy"] == "${data.aws_iam_policy_document.rest_api.json}"


def test_cors_is_an_allow_list_empty_by_default() -> None:
    """The analytics function answers CORS for the listed origins only (tests/unit/test_api_auth.py)."""
    for env in ("dev", "prod", "local"):
        variable = variables(ENVS / env)["cors_allowed_origins"]
        assert variable["default"] == [], env
        assert "*" not in json.dumps(variable["default"])
        assert (
            module_locals(PLATFORM)["settings"]["MTX_CORS_ALLOWED_ORIGINS"] == '${join(",", var.cors_allowed_origins)}'
        )
