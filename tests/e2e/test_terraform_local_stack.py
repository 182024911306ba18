"""`mtx up --terraform`: the local stack provisioned by `terraform apply` of infra/terraform/envs/local.

Parity: the key settings of every resource of the Python manifest, read back with
``manifest.key_settings()`` from the Terraform-provisioned stack, equal those of
the session's stack, provisioned by ``manifest.provision()`` under the same
names. Then transactions go through the Terraform-provisioned stack end to end:
its API, its state machine, the compliance store, the analytics copy, the
dead-letter queue.

Runs where a terraform binary and the hashicorp/aws provider (an offline mirror,
as on these machines) exist; elsewhere it skips and says which is missing. The
stack itself (``tf_stack``) is started in the background by tests/terraform_stack.py.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from orchestration.cli.dlq import list_dead_letters
from orchestration.runtime import manifest
from orchestration.runtime.stack import LocalStack
from orchestration.settings import REPO_ROOT, Settings
from tests.helpers import seed_tx

pytestmark = pytest.mark.e2e

MTX = [sys.executable, "-m", "orchestration.cli"]


def clients_of(state: dict[str, Any], env: dict[str, str]) -> Any:
    """boto3 clients of the Terraform-provisioned stack, with its own (fake) credentials from stack.env."""
    made: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service not in made:
            made[service] = boto3.client(  # type: ignore[call-overload]
                service, endpoint_url=state["aws_endpoint_url"], region_name=state["region"],
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=env.get("AWS_SESSION_TOKEN"),
            )  # fmt: skip
        return made[service]

    return clients


def test_terraform_provisions_what_the_manifest_does_with_the_same_key_settings(
    tf_stack: tuple[dict[str, Any], dict[str, str]], stack: LocalStack
) -> None:
    """``stack`` is the session's stack, provisioned by the manifest in this process, under the same names."""
    state, _ = tf_stack
    assert state["provisioner"] == "terraform"
    s = Settings(name_prefix=state["name_prefix"])
    man = manifest.build(s)
    tf_clients = clients_of(*tf_stack)
    by_terraform = manifest.key_settings(man, tf_clients)
    missing = sorted(k for k, v in by_terraform.items() if v == "missing")
    assert not missing, f"created by the manifest, not by terraform apply: {missing}"
    assert stack.require_settings().name_prefix == s.name_prefix
    by_python = manifest.key_settings(manifest.build(stack.require_settings()), stack.client)
    assert by_terraform.keys() == by_python.keys()
    differ = {k: {"terraform": by_terraform[k], "manifest": by_python[k]} for k in by_python
              if by_terraform[k] != by_python[k]}  # fmt: skip
    assert not differ, json.dumps(differ, indent=1)
    # external_databases switched off what moto cannot hold, and only that
    tfstate = json.loads((Path(state["home"]) / "terraform" / "terraform.tfstate").read_text())
    types = {r["type"] for r in tfstate["resources"] if r["mode"] == "managed" and r["instances"]}
    assert not types & {"aws_db_instance", "aws_db_subnet_group", "aws_redshiftserverless_namespace",
                        "aws_redshiftserverless_workgroup", "aws_glue_connection", "aws_db_proxy"}  # fmt: skip
    assert {"aws_lambda_function", "aws_sfn_state_machine", "aws_api_gateway_rest_api", "aws_kms_key"} <= types
    # and what only Terraform creates of the Glue side: the crawler and the job the refresh runs
    glue = tf_clients("glue")
    crawler = json.loads((REPO_ROOT / "glue_jobs" / "crawlers" / "transactions.json").read_text())
    found = glue.get_crawler(Name=f"{s.name_prefix}-{crawler['name_suffix']}")["Crawler"]
    assert found["DatabaseName"] == s.glue_database
    assert glue.get_job(JobName=f"{s.name_prefix}-flatten-transactions")["Job"]["Command"]["Name"] == "glueetl"


def test_a_transaction_runs_end_to_end_on_the_terraform_provisioned_stack(
    tf_stack: tuple[dict[str, Any], dict[str, str]],
) -> None:
    state, env = tf_stack
    s = Settings(name_prefix=state["name_prefix"])
    tf_clients = clients_of(state, env)
    good = seed_tx()
    bad = seed_tx()  # valid by the contract, unknown to the shop: the workflow's CheckItemInShop dead-letters it
    bad["item_purchased"] = {**bad["item_purchased"], "item_id": "mtx_not_in_the_catalogue"}
    for tx in (good, bad):
        req = urllib.request.Request(
            f"{state['api_url']}/transactions", data=json.dumps(tx).encode(), method="POST",
            headers={"Content-Type": "application/json", "x-api-key": env["MTX_PRODUCER_KEY"]},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status in (200, 202)
    deadline = time.monotonic() + 120
    stored: Any = None
    item: Any = None
    while time.monotonic() < deadline and not (stored and item):
        with psycopg.connect(env["MTX_COMPLIANCE_DSN"]) as conn:
            stored = conn.execute(
                "select card_last4, host(client_ip) from compliance.transactions where transaction_id = %s",
                (good["transactionId"],),
            ).fetchone()
        item = tf_clients("dynamodb").get_item(
            TableName=s.analytics_table, Key={"transaction_id": {"S": good["transactionId"]}}
        ).get("Item")  # fmt: skip
        time.sleep(0.5)
    assert stored == ("1234", "192.168.1.1")  # the full record, in the database the terraform-written secret names
    assert item is not None and "192.168.1.1" not in json.dumps(item) and "1234" not in json.dumps(item)
    url = tf_clients("sqs").get_queue_url(QueueName=s.dead_letter_queue_name)["QueueUrl"]
    letters: list[Any] = []
    while time.monotonic() < deadline and not letters:
        letters = list_dead_letters(tf_clients, url)
        time.sleep(0.5)
    assert [d.transaction_id for d in letters] == [bad["transactionId"]]
    assert letters[0].error == "ItemNotFound" and "item_purchased.item_id" in letters[0].reason
    assert "mtx_not_in_the_catalogue" not in letters[0].reason  # the field and the rule, never the value
