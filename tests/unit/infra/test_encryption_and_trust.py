"""Structural tests of infra/terraform for issue 19 (KMS everywhere, who may read the dead letters,
who may assume the analysts role), over the parsed HCL (python-hcl2), no AWS, no terraform binary.

Where a policy's effect matters more than its text (the bucket and queue policies), the statements
are evaluated against request contexts with the IAM rules the policies rely on: a condition block
holds only if each of its conditions holds; a condition on a key absent from the request is false,
except for the negated operators (StringNotEquals, ArnNotEquals...) and ...IfExists, which are true,
and Null, which tests presence.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from orchestration.runtime import manifest as manifest_mod
from orchestration.settings import Settings
from tests.hcl_helpers import (
    MODULES,
    PLATFORM,
    REPO,
    blocks,
    module_locals,
    parsed,
    resource,
    tf_files,
    unquote,
    variables,
)

pytestmark = pytest.mark.unit


def settings() -> Settings:
    return Settings()


KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:eu-west-1:123456789012:key/{KEY_ID}"
OTHER_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/99999999-0000-0000-0000-000000000000"


# --- parsing ------------------------------------------------------------------------------------


def module_dirs() -> list[Path]:
    return sorted(p for p in MODULES.iterdir() if p.is_dir())


def resources_of_type(rtype: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(module, name, body) of every resource of a type, in every module."""
    return [(d.name, n, b) for d in module_dirs() for t, n, b in blocks(d, "resource") if t == rtype]


def policy_document(directory: Path, name: str) -> dict[str, Any]:
    for t, n, body in blocks(directory, "data"):
        if (t, n) == ("aws_iam_policy_document", name):
            return body
    raise AssertionError(f"no aws_iam_policy_document.{name} in {directory.relative_to(REPO)}")


def module_calls(env: str = "dev") -> dict[str, dict[str, Any]]:
    calls = {}
    for entry in parsed(PLATFORM / "main.tf").get("module", []):
        for name, body in entry.items():
            calls[unquote(name)] = body
    return calls


def call_of(module: str) -> dict[str, Any]:
    [call] = [c for c in module_calls().values() if unquote(c["source"]) == f"../{module}"]
    return call


def strings(values: Any) -> list[str]:
    return [unquote(v) for v in (values if isinstance(values, list) else [values])]


def validation_regex(directory: Path, variable: str) -> re.Pattern[str]:
    """The regex of a variable's `alltrue([for x in var.v : can(regex("...", x))])` validation."""
    for validation in variables(directory)[variable].get("validation", []):
        m = re.search(r'can\(regex\(\\?"(.+?)\\?", \w+\)\)', validation["condition"])
        if m:
            return re.compile(m.group(1).replace("\\\\", "\\"))
    raise AssertionError(f"{directory.name}: no regex validation on var.{variable}")


# --- a small evaluator of policy statements -------------------------------------------------------


def _holds(test: str, present: bool, actual: str | None, values: list[str]) -> bool:
    if test == "Null":
        return (not present) == (values == ["true"])
    if test.endswith("IfExists"):
        return True if not present else _holds(test.removesuffix("IfExists"), present, actual, values)
    negated = "Not" in test
    if not present:
        return negated
    base = test.replace("Not", "")
    if base in {"StringEquals", "ArnEquals", "Bool"}:
        matched = actual in values
    elif base in {"StringLike", "ArnLike"}:
        matched = any(re.fullmatch(re.escape(v).replace(r"\*", ".*"), actual or "") for v in values)
    elif base == "NumericLessThan":
        matched = float(actual or 0) < float(values[0])
    else:
        raise AssertionError(f"the evaluator does not know {test}")
    return not matched if negated else matched


def applies(statement: dict[str, Any], action: str, context: dict[str, str], scope: dict[str, list[str]]) -> bool:
    """Whether a statement matches an action and request context (${...} values resolved by scope)."""
    actions = strings(statement["actions"])
    service = action.split(":")[0]
    if action not in actions and f"{service}:*" not in actions:
        return False
    for condition in statement.get("condition", []):
        variable = unquote(condition["variable"])
        values: list[str] = []
        for v in strings(condition["values"]) if not isinstance(condition["values"], str) else [condition["values"]]:
            values += scope.get(v, [v])
        if not _holds(unquote(condition["test"]), variable in context, context.get(variable), values):
            return False
    return True


def denied(document: dict[str, Any], action: str, context: dict[str, str], scope: dict[str, list[str]]) -> list[str]:
    """Sids of the Deny statements of a policy document that deny the request."""
    return [
        unquote(s.get("sid", '"?"'))
        for s in document["statement"]
        if unquote(s.get("effect", '"Allow"')) == "Deny" and applies(s, action, context, scope)
    ]


# --- buckets --------------------------------------------------------------------------------------------


def test_every_bucket_defaults_to_the_customer_managed_key_with_a_bucket_key() -> None:
    buckets = resources_of_type("aws_s3_bucket")
    assert buckets, "no bucket found"
    for module, name, bucket in buckets:
        directory = MODULES / module
        sse = [
            b
            for t, _, b in blocks(directory, "resource")
            if t == "aws_s3_bucket_server_side_encryption_configuration"
            and b["bucket"].startswith(f"${{aws_s3_bucket.{name}")
        ]
        assert len(sse) == 1, f"{module}: aws_s3_bucket.{name} has no default encryption configuration"
        assert sse[0].get("for_each") == bucket.get("for_each"), f"{module}: not every bucket of {name} is configured"
        [rule] = sse[0]["rule"]
        [default] = rule["apply_server_side_encryption_by_default"]
        assert unquote(default["sse_algorithm"]) == "aws:kms", module
        assert default["kms_master_key_id"] == "${var.kms_key_arn}", module
        assert rule["bucket_key_enabled"] is True, f"{module}: no S3 bucket key (every object would call KMS)"
        assert call_of(module)["kms_key_arn"] == "${module.kms.key_arn}", module


def bucket_policies() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(module, bucket resource, policy document) of every bucket."""
    found = []
    for module, name, bucket in resources_of_type("aws_s3_bucket"):
        directory = MODULES / module
        policies = [
            b
            for t, _, b in blocks(directory, "resource")
            if t == "aws_s3_bucket_policy" and b["bucket"].startswith(f"${{aws_s3_bucket.{name}")
        ]
        assert len(policies) == 1, f"{module}: aws_s3_bucket.{name} has no bucket policy"
        assert policies[0].get("for_each") == bucket.get("for_each"), f"{module}: not every bucket has the policy"
        m = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)(\[each\.key\])?\.json\}", policies[0]["policy"])
        assert m, policies[0]["policy"]
        found.append((module, bucket, policy_document(directory, m.group(1))))
    return found


SSE = "s3:x-amz-server-side-encryption"
SSE_KEY = "s3:x-amz-server-side-encryption-aws-kms-key-id"
SSE_C = "s3:x-amz-server-side-encryption-customer-algorithm"
TLS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}

# (what the upload asks for, whether the bucket policy must deny it)
UPLOADS = [
    ({}, False),  # no header: the bucket default, the customer managed key (what the code sends)
    ({SSE: "aws:kms", SSE_KEY: KEY_ARN}, False),
    ({SSE: "aws:kms", SSE_KEY: KEY_ID}, False),
    ({SSE: "AES256"}, True),  # SSE-S3: the override issue 19 found
    ({SSE: "aws:kms"}, True),  # the AWS managed key aws/s3
    ({SSE: "aws:kms", SSE_KEY: OTHER_KEY_ARN}, True),
    ({SSE: "aws:kms:dsse", SSE_KEY: KEY_ARN}, True),
    ({SSE_KEY: OTHER_KEY_ARN}, True),
    ({SSE_C: "AES256"}, True),
]


@pytest.mark.parametrize(("headers", "deny"), UPLOADS, ids=[str(h) or "no-header" for h, _ in UPLOADS])
def test_bucket_policies_deny_uploads_asking_for_another_encryption_and_let_the_default_through(
    headers: dict[str, str], deny: bool
) -> None:
    scope = {"${var.kms_key_arn}": [KEY_ARN], "${local.kms_key_id}": [KEY_ID]}
    for module, _, document in bucket_policies():
        verdict = denied(document, "s3:PutObject", {**TLS, **headers}, scope)
        assert bool(verdict) == deny, (
            f"{module}: PutObject with {headers or 'no encryption header'}: denied by {verdict}"
        )


def test_the_local_stack_can_still_write_to_terraform_provisioned_buckets() -> None:
    """`mtx up --terraform` applies these policies to moto, which supplies no condition values for a
    bucket policy; the project's patch (orchestration/runtime/moto_server.py) counts a positive
    operator on an absent key as no match, and leaves Null, ...IfExists and negated operators to moto,
    which counts them as matched. A Deny without a positive condition would deny every upload there."""
    for module, _, document in bucket_policies():
        for statement in document["statement"]:
            if unquote(statement.get("effect", '"Allow"')) != "Deny":
                continue
            operators = [unquote(c["test"]) for c in statement.get("condition", [])]
            positive = [
                op
                for op in operators
                if op != "Null" and "Not" not in op and not op.endswith("IfExists") and "ForAllValues" not in op
            ]
            assert positive, f"{module}: {unquote(statement['sid'])} would deny every request on the local stack"


def test_the_key_id_a_writer_may_name_is_the_bucket_key() -> None:
    assert module_locals(MODULES / "storage")["kms_key_id"] == '${regex("[^/]+$", var.kms_key_arn)}'
    assert re.search("[^/]+$", KEY_ARN).group(0) == KEY_ID  # type: ignore[union-attr]


def test_bucket_policies_deny_requests_without_tls_on_the_bucket_and_its_objects() -> None:
    for module, _, document in bucket_policies():
        for action in ("s3:GetObject", "s3:PutObject", "s3:ListBucket"):
            assert denied(document, action, {"aws:SecureTransport": "false", "s3:TlsVersion": "1.3"}, {}), module
            assert denied(document, action, {"aws:SecureTransport": "true", "s3:TlsVersion": "1.1"}, {}), module
            assert not denied(document, action, TLS, {}), f"{module}: {action} over TLS 1.3 denied"
        [tls] = [s for s in document["statement"] if unquote(s.get("sid")) == "DenyInsecureTransport"]
        assert len(tls["resources"]) == 2, f"{module}: the TLS deny must cover the bucket and its objects"


# --- lifecycle --------------------------------------------------------------------------------------------


def _transient_prefixes_written_by_the_code() -> set[str]:
    """The raw-bucket prefixes the functions write to besides incoming/: f"chunks/{...}", f"rejected/{...}"."""
    found = set()
    for path in (REPO / "lambdas").rglob("*.py"):
        found |= set(re.findall(r'f"(\w+/)\{', path.read_text()))
    return found - {"transactions/", "analytics-jobs/"}  # the analytics copy and job results stay


def test_transient_prefixes_of_the_raw_bucket_expire() -> None:
    directory = MODULES / "storage"
    expirations = module_locals(directory)["expirations"]
    raw = {unquote(rule["prefix"]): rule for rule in expirations["raw"]}
    written = _transient_prefixes_written_by_the_code()
    assert {"chunks/", "rejected/"} <= written, written
    assert written <= set(raw), f"transient prefixes that never expire: {written - set(raw)}"
    assert raw["chunks/"]["days"] == "${var.raw_chunks_expiration_days}"
    assert raw["rejected/"]["days"] == "${var.raw_rejected_expiration_days}"
    assert raw["incoming/"]["days"] == "${var.raw_incoming_expiration_days}"
    declared = variables(directory)
    assert declared["raw_chunks_expiration_days"]["default"] == 7
    assert declared["raw_rejected_expiration_days"]["default"] == 90
    for name in ("raw_chunks_expiration_days", "raw_rejected_expiration_days", "raw_incoming_expiration_days"):
        assert declared[name].get("validation"), f"var.{name} must refuse 0 and negative days"
    # replaced or deleted versions of full records go within a day, not after the bucket-wide 30
    assert raw["chunks/"]["noncurrent_days"] == 1 and raw["rejected/"]["noncurrent_days"] == 1


def test_every_bucket_aborts_incomplete_uploads_and_applies_its_expirations() -> None:
    lifecycle = resource(MODULES / "storage", "aws_s3_bucket_lifecycle_configuration")
    assert lifecycle["for_each"] == resource(MODULES / "storage", "aws_s3_bucket")["for_each"]
    [always] = [r for r in lifecycle["rule"] if r.get("abort_incomplete_multipart_upload")]
    assert always["filter"] == [{"__is_block__": True}], "the abort rule must cover the whole bucket"
    assert always["abort_incomplete_multipart_upload"][0]["days_after_initiation"] <= 7
    [dynamic] = [d for d in lifecycle["dynamic"] if '"rule"' in d]
    rule = dynamic['"rule"']
    assert rule["for_each"] == "${local.expirations[each.key]}"
    [content] = rule["content"]
    assert content["filter"][0]["prefix"] == "${rule.value.prefix}"
    assert content["expiration"][0]["days"] == "${rule.value.days}"
    buckets = module_locals(MODULES / "storage")["buckets"]
    assert set(module_locals(MODULES / "storage")["expirations"]) == set(buckets)


# --- queues, topics, log groups -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rtype", "attribute"),
    [
        ("aws_sqs_queue", "kms_master_key_id"),
        ("aws_sns_topic", "kms_master_key_id"),
        ("aws_cloudwatch_log_group", "kms_key_id"),
    ],
)
def test_queues_topics_and_log_groups_use_the_customer_managed_key(rtype: str, attribute: str) -> None:
    found = resources_of_type(rtype)
    assert found, f"no {rtype}"
    for module, name, body in found:
        assert body.get(attribute) == "${var.kms_key_arn}", f"{module}: {rtype}.{name} has no {attribute}"
        assert body.get("sqs_managed_sse_enabled") in (None, False), f"{module}: {rtype}.{name}"
        assert call_of(module)["kms_key_arn"] == "${module.kms.key_arn}", module
    if rtype == "aws_cloudwatch_log_group":
        assert {m for m, _, _ in found} >= {"lambda", "state_machines", "glue", "api"}


def test_the_key_policy_lets_each_service_use_the_key_only_as_it_needs() -> None:
    document = policy_document(MODULES / "kms", "this")
    by_service: dict[str, dict[str, Any]] = {}
    for statement in document["statement"]:
        for principal in statement["principals"]:
            if unquote(principal["type"]) == "Service":
                for identifier in strings(principal["identifiers"]):
                    by_service[identifier] = statement
                assert statement.get("condition"), f"{unquote(statement['sid'])}: a service statement needs a condition"
    assert set(by_service) == {
        "logs.${local.region}.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
        "budgets.amazonaws.com",  # the budget's alerts to the encrypted alert topic (modules/monitoring budget.tf)
    }
    [logs] = by_service["logs.${local.region}.amazonaws.com"]["condition"]
    assert unquote(logs["test"]) == "ArnLike"
    assert unquote(logs["variable"]) == "kms:EncryptionContext:aws:logs:arn"
    assert strings(logs["values"]) == ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"):
        [condition] = by_service[service]["condition"]
        assert unquote(condition["variable"]) == "aws:SourceAccount", service
        assert set(strings(by_service[service]["actions"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}, service
    kms = module_locals(MODULES / "kms")
    assert kms["account_id"] == "${data.aws_caller_identity.this.account_id}"


# --- the dead-letter queue --------------------------------------------------------------------------------------

SENDER = "arn:aws:iam::123456789012:role/mtx-dev-transaction-sfn"
REDRIVE = "arn:aws:iam::123456789012:role/mtx-dev-dlq-redrive"
ARCHIVER = "arn:aws:iam::123456789012:role/mtx-dev-archive-dead-letters"
OTHER = "arn:aws:iam::123456789012:role/mtx-dev-analytics-api"
READS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue"]


def test_only_the_dead_lettering_roles_send_and_only_the_redrive_role_and_the_archive_read() -> None:
    directory = MODULES / "messaging"
    queue_policy = resource(directory, "aws_sqs_queue_policy")
    assert queue_policy["policy"] == "${data.aws_iam_policy_document.queue.json}"
    document = policy_document(directory, "queue")
    local = module_locals(directory)
    assert local["reader_role_arns"] == ["${local.redrive_role_arn}", "${local.archiver_role_arn}"]
    scope = {"${var.dead_letter_sender_role_arns}": [SENDER], "${local.reader_role_arns}": [REDRIVE, ARCHIVER]}
    scope["${local.read_actions}"] = strings(local["read_actions"])
    resolved = {
        "statement": [
            s | {"actions": scope["${local.read_actions}"]} if s["actions"] == "${local.read_actions}" else s
            for s in document["statement"]
        ]
    }
    assert set(READS) <= set(scope["${local.read_actions}"])

    def verdict(action: str, principal: str | None) -> bool:
        context = {"aws:SecureTransport": "true"} | ({"aws:PrincipalArn": principal} if principal else {})
        return bool(denied(resolved, action, context, scope))

    assert not verdict("sqs:SendMessage", SENDER)
    assert verdict("sqs:SendMessage", OTHER)
    assert verdict("sqs:SendMessage", REDRIVE)
    assert verdict("sqs:SendMessage", ARCHIVER)
    assert verdict("sqs:SendMessage", None), "a service principal (no aws:PrincipalArn) must not send"
    for action in READS:
        assert not verdict(action, REDRIVE), action
        assert not verdict(action, ARCHIVER), f"{action} by the archive function"
        assert verdict(action, SENDER), f"{action} by a sender"
        assert verdict(action, OTHER), f"{action} by any other role of the account"
    assert not verdict("sqs:GetQueueAttributes", OTHER), "counting the dead letters (GetQueueAttributes) stays open"

    # the ARNs the deny names are the redrive role's and the archive function's execution role's
    assert unquote(local["redrive_role_arn"]).endswith(":role/${local.redrive_role_name}")
    assert unquote(local["redrive_role_arn"]).startswith("arn:${local.partition}:iam::${local.account_id}")
    assert resource(directory, "aws_iam_role")["name"] == "${local.redrive_role_name}"
    archiver = unquote(local["archiver_role_arn"])
    assert archiver == "arn:${local.partition}:iam::${local.account_id}:role/${var.name_prefix}-archive-dead-letters"
    # module lambda names each role as its function, and the function as Settings.function_name does
    assert resource(MODULES / "lambda", "aws_iam_role")["name"] == "${each.value}"
    assert settings().function_name("archive_dead_letters") == "mtx-local-archive-dead-letters"


def _functions_that_send_dead_letters() -> set[str]:
    found = set()
    for handler in (REPO / "lambdas").glob("*/handler.py"):
        tree = ast.parse(handler.read_text())
        imported = {
            (node.module, alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        # records in batches, or an execution's input once (the last-resort net, the sweeper)
        if imported & {("lambdas.common.dead_letters", "send_batch"),
                       ("lambdas.common.execution_dead_letters", "dead_letter_once")}:  # fmt: skip
            found.add(handler.parent.name)
    return found


def test_the_senders_are_derived_from_what_each_function_and_workflow_sends() -> None:
    lambda_locals = module_locals(MODULES / "lambda")
    with_send = {
        short
        for short, statements in lambda_locals["permissions"].items()
        if "${local.dead_letter}" in str(statements) or "sqs:SendMessage" in str(statements)
    }
    assert "sqs:SendMessage" in str(lambda_locals["dead_letter"])
    assert with_send == _functions_that_send_dead_letters() == {
        "process_chunk", "ingest_stream", "dead_letter_chunk", "dead_letter_failed_execution", "sweep_pending",
    }  # fmt: skip
    senders = lambda_locals["dead_letter_senders"]
    assert "local.permissions" in senders and '"sqs:SendMessage"' in senders and "var.dead_letter_queue_arn" in senders
    assert "sqs:SendMessage" in module_locals(MODULES / "state_machines")["sent_queues"]
    call = call_of("messaging")
    assert call["dead_letter_sender_role_arns"] == (
        "${concat(lookup(module.state_machines.queue_sender_role_arns, module.messaging.queue_arn, []), "
        "module.lambda.dead_letter_sender_role_arns)}"
    )
    assert call["redrive_state_machine_arn"] == '${module.state_machines.state_machine_arns["transaction"]}'
    assert call["redrive_principal_arns"] == "${var.dlq_redrive_principal_arns}"


#: boto3 calls of orchestration/cli/dlq.py (and of put_once, which it parks with, hand_back, which hands letters
#: back with, and delete_letters, which settles them) -> the IAM action each needs.
REDRIVE_CALLS = {
    "receive_message": "sqs:ReceiveMessage",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
    "change_message_visibility_batch": "sqs:ChangeMessageVisibility",
    "delete_message": "sqs:DeleteMessage",
    "delete_message_batch": "sqs:DeleteMessage",
    "start_execution": "states:StartExecution",
    "batch_get_item": "dynamodb:BatchGetItem",
    "put_object": "s3:PutObject",
    "get_object": "s3:GetObject",
    "delete_object": "s3:DeleteObject",
    "list_objects_v2": "s3:ListBucket",  # through get_paginator("list_objects_v2")
}


def _boto_calls(text: str) -> set[str]:
    calls = set(re.findall(r'\b(?:sqs|sfn|ddb|s3|clients\("\w+"\))\.(\w+)\(', text))
    return (calls - {"get_paginator"}) | set(re.findall(r'get_paginator\("(\w+)"\)', text))


def test_the_redrive_role_can_do_what_mtx_dlq_calls_and_no_more() -> None:
    """Exactly the actions orchestration/cli/dlq.py calls, plus the named extras an operator uses by hand; never
    DescribeExecution (the transaction workflow is Express in AWS: there is none)."""
    import inspect

    from lambdas.common import dead_letters

    directory = MODULES / "messaging"
    document = policy_document(directory, "redrive")
    granted = set()
    for statement in document["statement"]:
        actions = statement["actions"]
        if isinstance(actions, str):
            m = re.fullmatch(r"\$\{concat\((\[.*\]), local\.read_actions\)\}", actions)
            assert m, actions
            granted |= set(re.findall(r'"([\w:]+)"', m.group(1))) | set(
                strings(module_locals(directory)["read_actions"])
            )
        else:
            granted |= set(strings(actions))
    source = (REPO / "orchestration/cli/dlq.py").read_text()
    assert "put_once" in source and "hand_back" in source and "delete_letters" in source
    called = _boto_calls(source).union(
        *(_boto_calls(inspect.getsource(f)) for f in (dead_letters.put_once, dead_letters.hand_back,
                                                       dead_letters.delete_letters))
    )  # fmt: skip
    assert called <= set(REDRIVE_CALLS), f"unmapped calls: {called - set(REDRIVE_CALLS)}"
    assert not re.search(r"\b(describe_execution|wait_for)\(", source), "DescribeExecution, directly or by wait_for"
    needed = {REDRIVE_CALLS[c] for c in called}
    assert needed == set(REDRIVE_CALLS.values()), "a mapped call is no longer made: drop it from REDRIVE_CALLS"
    assert needed <= granted, f"the redrive role lacks {needed - granted}"
    # beyond what the code calls: an operator reads the quarantine and archive (object versions) by hand,
    # counts and purges the queue; the parked objects are written with the data key (GenerateDataKey)
    extras = {"sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:PurgeQueue", "kms:Decrypt", "kms:GenerateDataKey",
              "s3:GetObjectVersion"}  # fmt: skip
    assert granted - needed == extras
    assert "states:DescribeExecution" not in granted
    by_sid = {unquote(s["sid"]): s for s in document["statement"]}
    raw = "${local.raw_bucket_arn}"
    assert strings(by_sid["ParkDeadLetters"]["resources"]) == [f"{raw}/archive/parked/*"]
    assert strings(by_sid["SettleReplayedLetters"]["resources"]) == [f"{raw}/archive/dead-letters/*"]
    assert strings(by_sid["ReadRedrivenOutcomes"]["resources"]) == ["${local.execution_status_arn}"]
    [prefix] = by_sid["ListArchive"]["condition"]
    assert unquote(prefix["variable"]) == "s3:prefix" and strings(prefix["values"]) == ["archive/*"]
    local = module_locals(directory)
    assert unquote(local["raw_bucket_arn"]) == "arn:${local.partition}:s3:::${var.name_prefix}-raw"
    assert unquote(local["execution_status_arn"]).endswith(":table/${var.name_prefix}-execution-status")
    [assume] = policy_document(directory, "redrive_assume")["statement"]
    assert assume["principals"][0]["identifiers"] == "${var.redrive_principal_arns}"
    assert unquote(assume["condition"][0]["variable"]) == "aws:MultiFactorAuthPresent"
    for rtype, name in (("aws_iam_role", "this"), ("aws_iam_role_policy", "this")):
        assert resource(directory, rtype, name)["count"] == "${local.create_redrive_role ? 1 : 0}"
    assert module_locals(directory)["create_redrive_role"] == "${length(var.redrive_principal_arns) > 0}"


def test_the_archive_function_writes_archived_letters_and_reads_nothing_else() -> None:
    """archive_dead_letters: exactly what its handler calls; the object is written, never read back."""
    import inspect

    from lambdas.archive_dead_letters import handler as archive
    from lambdas.common import dead_letters

    permissions = module_locals(MODULES / "lambda")["permissions"]["archive_dead_letters"]
    granted = {a for statement in permissions for a in strings(statement["actions"])}
    source = (
        inspect.getsource(archive)
        + inspect.getsource(dead_letters.put_once)
        + inspect.getsource(dead_letters.queue_url)
        + inspect.getsource(dead_letters.hand_back)
    )
    called = set(re.findall(r"\b(?:sqs|s3|client\(\"\w+\"\))\.(\w+)\(", source))
    iam = {
        "receive_message": "sqs:ReceiveMessage", "delete_message": "sqs:DeleteMessage",
        "change_message_visibility_batch": "sqs:ChangeMessageVisibility",
        "change_message_visibility": "sqs:ChangeMessageVisibility", "get_queue_url": "sqs:GetQueueUrl",
        "put_object": "s3:PutObject",
    }  # fmt: skip
    assert called == set(iam), called
    assert granted == set(iam.values()) | {"kms:Decrypt", "kms:GenerateDataKey"}
    [write] = [s for s in permissions if unquote(s["sid"]) == "WriteArchivedLetters"]
    assert strings(write["resources"]) == ["${local.archived_letters}"]
    assert (
        unquote(module_locals(MODULES / "lambda")["archived_letters"])
        == '${var.bucket_arns["raw"]}/archive/dead-letters/*'
    )
    # started by its schedule, the rule named as the local runtime names it
    schedules = module_locals(MODULES / "lambda")["schedules"]
    assert schedules == "${{for short, f in local.functions : short => f.schedule if f.schedule != null}}"
    assert manifest_mod.SCHEDULED["archive_dead_letters"] == "rate(1 day)"
    rule = resource(MODULES / "lambda", "aws_cloudwatch_event_rule")
    assert rule["name"] == "${local.function_names[each.key]}"
    assert settings().function_name("archive_dead_letters") == manifest_mod.schedule_rule_name(
        settings(), "archive_dead_letters"
    )
    permission = resource(MODULES / "lambda", "aws_lambda_permission")
    assert unquote(permission["principal"]) == "events.amazonaws.com"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.this[each.key].arn}"


# --- who may assume a role ---------------------------------------------------------------------------------------

NAMED = ["arn:aws:iam::123456789012:role/data-analysts", "arn:aws:iam::123456789012:user/alice"]
NOT_NAMED = [
    "arn:aws:iam::123456789012:root",
    "123456789012",
    "*",
    "arn:aws:iam::123456789012:role/*",
    "arn:aws:iam::*:role/data-analysts",
    "arn:aws:sts::123456789012:assumed-role/data-analysts/alice",
]


@pytest.mark.parametrize(
    ("directory", "variable"), [("warehouse", "analyst_principal_arns"), ("messaging", "redrive_principal_arns")]
)
def test_human_roles_are_trusted_by_named_principals_only(directory: str, variable: str) -> None:
    pattern = validation_regex(MODULES / directory, variable)
    for arn in NAMED:
        assert pattern.fullmatch(arn), arn
    for arn in NOT_NAMED:
        assert not pattern.fullmatch(arn), f"var.{variable} accepts {arn}"
    assert variables(MODULES / directory)[variable]["default"] == []


def test_the_analysts_role_exists_only_for_named_principals() -> None:
    directory = MODULES / "warehouse"
    assert module_locals(directory)["analysts"] == "${local.create && length(var.analyst_principal_arns) > 0}"
    for rtype, name in (
        ("aws_iam_role", "analysts"),
        ("aws_iam_role_policy", "analysts"),
    ):
        assert resource(directory, rtype, name)["count"] == "${local.analysts ? 1 : 0}", f"{rtype}.{name}"
    [assume] = policy_document(directory, "analysts_assume")["statement"]
    assert assume["principals"][0]["identifiers"] == "${var.analyst_principal_arns}"
    assert unquote(assume["condition"][0]["variable"]) == "aws:MultiFactorAuthPresent"
    assert call_of("warehouse")["analyst_principal_arns"] == "${var.analyst_principal_arns}"


def test_no_trust_policy_names_an_account_root() -> None:
    """Only the key policy delegates to the account (AWS's default key policy); no role trusts a root."""
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ":root" in line and not line.strip().startswith("#"):
                assert path.parent.name == "kms" or "error_message" in line or "description" in line, (
                    f"{path.relative_to(REPO)}:{number}: {line.strip()}"
                )
    for directory in module_dirs():
        for rtype, name, body in blocks(directory, "data"):
            if rtype != "aws_iam_policy_document" or directory.name == "kms":
                continue
            for statement in body.get("statement", []):
                if "sts:AssumeRole" in strings(statement.get("actions", [])):
                    for principal in statement.get("principals", []):
                        identifiers = str(principal["identifiers"])
                        assert "root" not in identifiers and identifiers not in ('"*"', "['\"*\"']"), (
                            f"{directory.name}/{name}"
                        )


def test_only_the_redrive_role_reads_the_quarantine_and_the_archive() -> None:
    """rejected/ of the raw bucket holds whole files and single records (card, IP), archive/ the archived and
    parked dead letters (the same): the bucket policy denies reading them to every principal but the redrive
    role, which may (module messaging), as for the DLQ. The archive function only writes archive/."""
    directory = MODULES / "storage"
    [policy] = [b for t, n, b in blocks(directory, "data") if (t, n) == ("aws_iam_policy_document", "this")]
    [dynamic] = [d['"statement"'] for d in policy.get("dynamic", []) if '"statement"' in d]
    assert dynamic["for_each"] == '${each.key == "raw" ? [1] : []}'
    [statement] = dynamic["content"]
    assert strings(statement["resources"]) == [
        "${aws_s3_bucket.this[each.key].arn}/rejected/*", "${aws_s3_bucket.this[each.key].arn}/archive/*"
    ]  # fmt: skip
    reader = "arn:aws:iam::123456789012:role/mtx-dev-dlq-redrive"
    scope = {"${local.quarantine_reader_arn}": [reader]}
    document = {"statement": [statement]}
    for action in ("s3:GetObject", "s3:GetObjectVersion"):
        assert not denied(document, action, {"aws:PrincipalArn": reader}, scope)
        for other in (SENDER, OTHER, ARCHIVER, "arn:aws:iam::123456789012:root"):
            assert denied(document, action, {"aws:PrincipalArn": other}, scope), f"{action} by {other}"
    assert not denied(document, "s3:PutObject", {"aws:PrincipalArn": OTHER}, scope)  # quarantining still works
    local = module_locals(directory)["quarantine_reader_arn"]
    assert unquote(local).endswith(":role/${var.name_prefix}-dlq-redrive")
    assert unquote(module_locals(MODULES / "messaging")["redrive_role_name"]) == "${var.name_prefix}-dlq-redrive"
    [read] = [
        st for st in policy_document(MODULES / "messaging", "redrive")["statement"]
        if unquote(st.get("sid", "")) == "ReadQuarantineAndArchive"
    ]  # fmt: skip
    assert strings(read["resources"]) == ["${local.raw_bucket_arn}/rejected/*", "${local.raw_bucket_arn}/archive/*"]
