"""The local API enforces the producer / analyst split as API Gateway does (issue 19, item 4), over HTTP
against the running stack: no credential 401, the other kind 403, the right kind 2xx; a disabled producer
is refused while another still sends; a rotated-away key is refused and the new one works; the producer's
application id reaches the workflow input and the stored analytics copy; `mtx producers` does all of it."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from orchestration.cli import dlq
from orchestration.cli import main as cli
from orchestration.runtime import auth
from orchestration.runtime.ingest import wait_for
from orchestration.runtime.stack import LocalStack
from tests.helpers import seed_tx, unique_id
from tests.integration.analytics_api.api_helpers import assert_documented, get, post_json, request

pytestmark = pytest.mark.integration

JOB_PATH = "/analytics/jobs/" + "0" * 32
#: (method, path as sent, resource, body) of every route
CALLS: list[tuple[str, str, str, bytes | None]] = [
    ("POST", "/transactions", "/transactions", b"{}"),
    ("GET", "/health", "/health", None),
    ("GET", "/analytics?operation=warehouse_info", "/analytics", None),
    ("POST", "/analytics/jobs", "/analytics/jobs", b'{"operation": "warehouse_info"}'),
    ("GET", JOB_PATH, "/analytics/jobs/{jobId}", None),
]


def _error(status: int, body: dict[str, Any], expected: int, code: str, method: str, resource: str) -> None:
    assert status == expected, (method, resource, status, body)
    assert body["error"] == code and body["message"], body
    assert_documented(method, resource, status, body)  # the OpenAPI document declares it, in the error shape


def test_every_route_refuses_a_request_without_a_credential(stack: LocalStack) -> None:
    for method, path, resource, body in CALLS:
        status, answer = request(stack, method, path, body, {"Content-Type": "application/json"}, role=None)
        _error(status, answer, 401, "Unauthorized", method, resource)
        assert "x-api-key" in answer["message"]


def test_an_unknown_key_is_401(stack: LocalStack) -> None:
    for method, path, resource, body in CALLS:
        status, answer = request(stack, method, path, body, {auth.API_KEY_HEADER: "mtxp_not-a-key"}, role=None)
        _error(status, answer, 401, "Unauthorized", method, resource)


def test_a_credential_of_the_other_kind_is_403(stack: LocalStack) -> None:
    for method, path, resource, body in CALLS:
        wrong = auth.ANALYST if resource == "/transactions" else auth.PRODUCER
        status, answer = request(stack, method, path, body, {"Content-Type": "application/json"}, role=wrong)
        _error(status, answer, 403, "Forbidden", method, resource)


def test_the_right_kind_is_served(stack: LocalStack) -> None:
    status, body = post_json(stack, "/transactions", seed_tx(), role=auth.PRODUCER)
    assert status == 202, body
    status, body = get(stack, "/health", role=auth.ANALYST)
    assert status in (200, 503) and body.get("error") not in ("Unauthorized", "Forbidden"), body
    status, body = get(stack, JOB_PATH, role=auth.ANALYST)
    assert (status, body["error"]) == (404, "JobNotFound"), body  # past the gateway: the function answered
    for method, path in (("GET", "/transactions"), ("POST", "/health"), ("POST", "/analytics")):
        status, body = request(stack, method, path, b"{}" if method == "POST" else None, role=None)
        assert (status, body["error"]) == (405, "MethodNotAllowed"), (method, path, body)  # no such route


def _post(stack: LocalStack, key: str, tx: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    return request(
        stack, "POST", "/transactions", json.dumps(tx or seed_tx()).encode(),
        {"Content-Type": "application/json", auth.API_KEY_HEADER: key}, role=None,
    )  # fmt: skip


def test_one_producer_disabled_another_still_sends(stack: LocalStack) -> None:
    registry = stack.credentials()
    a, b = f"game-{unique_id('a')}", f"game-{unique_id('b')}"
    key_a, key_b = registry.create(a), registry.create(b)
    assert _post(stack, key_a)[0] == 202 and _post(stack, key_b)[0] == 202
    registry.disable(a)
    status, body = _post(stack, key_a)
    assert (status, body["error"]) == (401, "Unauthorized"), body
    assert _post(stack, key_b)[0] == 202
    assert _post(stack, stack.producer_key)[0] == 202  # the stack's own producer too
    registry.enable(a)
    assert _post(stack, key_a)[0] == 202


def test_a_rotated_key_is_refused_and_the_new_one_works(stack: LocalStack) -> None:
    registry = stack.credentials()
    app = f"game-{unique_id('r')}"
    old = registry.create(app)
    assert _post(stack, old)[0] == 202
    new = registry.rotate(app)
    status, body = _post(stack, old)
    assert (status, body["error"]) == (401, "Unauthorized"), body
    assert _post(stack, new)[0] == 202


def test_the_producer_id_reaches_the_workflow_input_and_the_analytics_copy(stack: LocalStack) -> None:
    app = f"game-{unique_id('s')}"
    key = stack.credentials().create(app)
    tx = seed_tx()
    status, body = _post(stack, key, tx)
    assert status == 202, body
    outcome = wait_for(stack.client, [body["executionArn"]], timeout=120)
    assert outcome.stored == [body["executionArn"]], outcome
    execution = stack.client("stepfunctions").describe_execution(executionArn=body["executionArn"])
    given = json.loads(execution["input"])
    assert given["producer_id"] == app and "producer_id" not in given["transaction"]  # the contract is unchanged
    s = stack.require_settings()
    item = stack.client("dynamodb").get_item(
        TableName=s.analytics_table, Key={"transaction_id": {"S": tx["transactionId"]}}
    )["Item"]  # fmt: skip
    assert item["producer_id"] == {"S": app}
    key_of = f"transactions/dt={tx['event_timestamp'][:10]}/{tx['transactionId']}.json"
    head = stack.client("s3").head_object(Bucket=s.analytics_bucket, Key=key_of)
    assert head["Metadata"] == {"producer-id": app}


def test_dead_letters_name_their_producer_and_redrive_keeps_it(clean_queues: LocalStack) -> None:
    stack = clean_queues
    app = f"game-{unique_id('d')}"
    key = stack.credentials().create(app)
    rejected = unique_id("bad")
    status, body = _post(stack, key, {"transactionId": rejected})  # fails the contract at the entrance
    assert status == 400, body
    unknown = seed_tx()
    unknown["item_purchased"] = {**unknown["item_purchased"], "item_id": "mtx_not_in_the_catalogue"}
    status, body = _post(stack, key, unknown)  # valid, but the workflow dead-letters it (CheckItemInShop)
    assert status == 202, body
    assert wait_for(stack.client, [body["executionArn"]], timeout=120).failed
    letters = {d.transaction_id: d.body for d in dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)}
    assert letters[rejected]["producer_id"] == app
    assert letters[unknown["transactionId"]]["producer_id"] == app
    report = dlq.redrive(stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"))
    assert report.failed_again == 1  # the unknown item fails again; the rejected body is not JSON-redrivable
    again = {d.transaction_id: d.body for d in dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)}
    assert again[unknown["transactionId"]]["producer_id"] == app


def test_mtx_producers_create_disable_rotate_list(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (auth.PRODUCER_KEY_ENV, auth.PRODUCER_ID_ENV, auth.ANALYST_KEY_ENV):  # RunningStack sets them
        monkeypatch.setenv(name, os.environ.get(name, ""))
    home = ["--home", str(stack.home)]
    app = f"game-{unique_id('c')}"

    def mtx(*args: str) -> tuple[int, str, str]:
        code = cli.main([*home, "producers", *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = mtx("create", app)
    key = out.strip()
    assert code == 0 and key.startswith("mtxp_")
    assert _post(stack, key)[0] == 202
    assert mtx("create", app)[0] == 1  # exists already
    assert mtx("create", "Not_An_Id")[0] == 2  # a value the command refuses: a usage error
    code, out, _ = mtx("list")
    assert code == 0 and app in out and key not in out and auth.DEFAULT_PRODUCER in out
    code, out, _ = mtx("list", "--json")
    listed = {p["app_id"]: p for p in json.loads(out)["producers"]}
    assert code == 0 and listed[app]["state"] == auth.ACTIVE and key not in out
    assert [k["fingerprint"] for k in listed[app]["keys"]] == [auth.key_hash(key)[:12]]
    assert mtx("disable", app)[0] == 0
    assert _post(stack, key)[0] == 401
    code, out, _ = mtx("rotate", app)
    new = out.strip()
    assert code == 0 and new != key
    assert _post(stack, key)[0] == 401 and _post(stack, new)[0] == 202
    assert mtx("disable", "game-nobody")[0] == 1


def test_stack_env_holds_both_credentials(stack: LocalStack) -> None:
    text = stack.env_file.read_text()
    for name, value in (
        (auth.PRODUCER_KEY_ENV, stack.producer_key),
        (auth.ANALYST_KEY_ENV, stack.analyst_key),
        (auth.PRODUCER_ID_ENV, stack.producer_id),
    ):
        assert f"export {name}={json.dumps(value)}" in text
    assert stack.env_file.stat().st_mode & 0o077 == 0
    assert stack.producer_key not in stack.state_file.read_text()
    assert stack.producer_key not in json.dumps(os.environ.copy())  # not in this process's environment
