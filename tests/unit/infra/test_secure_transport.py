"""The DenyInsecureTransport statement of the queue and topic policies: built once (modules/secure_transport).

Every SQS queue policy and SNS topic policy of the configuration adds that module's document
(source_policy_documents) for its own resource, and no policy writes the statement by hand again.
"""

from __future__ import annotations

import re

import pytest

from tests.hcl_helpers import MODULES, blocks, parsed, tf_files, unquote

pytestmark = pytest.mark.unit

SHARED = MODULES / "secure_transport"


def _calls(directory: object) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for path in sorted(directory.glob("*.tf")):  # type: ignore[attr-defined]
        for entry in parsed(path).get("module", []):
            found.update({unquote(k): v for k, v in entry.items()})
    return found


def test_the_statement_is_written_once() -> None:
    written = [p for p in tf_files() if re.search(r'sid\s*=\s*"DenyInsecureTransport"', p.read_text())]
    # the shared module, and the bucket policies (their TLS deny also refuses TLS < 1.2: modules/storage)
    assert {p.parent.name for p in written} == {"secure_transport", "storage"}
    [(_, _, document)] = [b for b in blocks(SHARED, "data") if b[0] == "aws_iam_policy_document"]
    [statement] = document["statement"]
    assert unquote(statement["effect"]) == "Deny" and statement["actions"] == "${var.actions}"
    [condition] = statement["condition"]
    assert (unquote(condition["test"]), unquote(condition["variable"]), [unquote(v) for v in condition["values"]]) == (
        "Bool",
        "aws:SecureTransport",
        ["false"],
    )


@pytest.mark.parametrize(
    ("module", "rtype", "document", "call", "actions", "resources"),
    [
        ("messaging", "aws_sqs_queue_policy", "queue", "queue_secure_transport", ["sqs:*"], "aws_sqs_queue.this.arn"),
        (
            "messaging",
            "aws_sns_topic_policy",
            "topic",
            "topic_secure_transport",
            ["sns:Publish"],
            "aws_sns_topic.this.arn",
        ),
        ("lambda", "aws_sqs_queue_policy", "async_failures", "secure_transport", ["sqs:*"], "aws_sqs_queue.this.arn"),
        ("triggers", "aws_sqs_queue_policy", "undelivered", "secure_transport", ["sqs:*"], "aws_sqs_queue.this[0].arn"),
        ("stream", "aws_sqs_queue_policy", "queue", "queue_secure_transport", ["sqs:*"], "aws_sqs_queue.this.arn"),
    ],
)
def test_every_queue_and_topic_policy_adds_it_for_its_own_resource(
    module: str, rtype: str, document: str, call: str, actions: list[str], resources: str
) -> None:
    directory = MODULES / module
    body = _calls(directory)[call]
    assert unquote(body["source"]) == "../secure_transport"
    assert [unquote(a) for a in body["actions"]] == actions
    assert body["resource_arns"] == [f"${{{resources}}}"]
    [(_, _, doc)] = [b for b in blocks(directory, "data") if b[:2] == ("aws_iam_policy_document", document)]
    assert f"module.{call}" in str(doc["source_policy_documents"])
    [(_, _, policy)] = [b for b in blocks(directory, "resource") if b[0] == rtype]
    assert f"data.aws_iam_policy_document.{document}" in str(policy["policy"])
