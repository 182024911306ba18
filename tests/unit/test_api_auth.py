"""The local API's authorization (orchestration/runtime/auth.py): the decision per route and caller, the registry
of producers' keys (moto in-process: no server), and the agreement of routes, roles and the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestration.runtime import auth
from orchestration.runtime.api_routes import ROUTES, proxy_event
from orchestration.runtime.auth import (
    ACTIVE,
    ANALYST,
    DISABLED,
    PRODUCER,
    ROTATED,
    Credential,
    CredentialRegistry,
    decide,
)

pytestmark = pytest.mark.unit

OPENAPI: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "orchestration" / "openapi.json").read_text()
)


def credential(role: str, status: str = ACTIVE, principal: str = "game-a") -> Credential:
    return Credential(key_hash="0" * 64, role=role, principal_id=principal, status=status)


# --- the decision ------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", [PRODUCER, ANALYST])
def test_no_credential_is_401(role: str) -> None:
    for presented in (None, ""):
        decision = decide(role, presented, None)
        assert (decision.status, decision.error) == (401, "Unauthorized")
        assert "x-api-key" in decision.message and not decision.allowed


def test_an_unknown_disabled_or_rotated_key_is_401_with_one_message() -> None:
    answers = {
        decide(PRODUCER, "some-key", None),
        decide(PRODUCER, "some-key", credential(PRODUCER, DISABLED)),
        decide(PRODUCER, "some-key", credential(PRODUCER, ROTATED)),
    }
    assert len(answers) == 1  # a caller learns nothing about a key it does not hold
    [answer] = answers
    assert (answer.status, answer.error) == (401, "Unauthorized")


def test_the_other_kind_of_credential_is_403() -> None:
    on_analytics = decide(ANALYST, "k", credential(PRODUCER))
    on_transactions = decide(PRODUCER, "k", credential(ANALYST, principal="local-analyst"))
    for decision in (on_analytics, on_transactions):
        assert (decision.status, decision.error) == (403, "Forbidden") and not decision.allowed
        assert set(decision.body()) == {"error", "message"}


def test_the_right_kind_is_allowed_with_its_principal() -> None:
    decision = decide(PRODUCER, "k", credential(PRODUCER, principal="game-b"))
    assert decision.allowed and decision.principal_id == "game-b"
    assert decide(ANALYST, "k", credential(ANALYST, principal="ana")).principal_id == "ana"
    with pytest.raises(ValueError):
        decide("admin", "k", credential(PRODUCER))


def test_every_route_has_a_role_and_only_the_two_entrances_are_a_producers() -> None:
    assert set(auth.ROUTE_ROLES) == set(ROUTES)
    producer_routes = [r for r, role in auth.ROUTE_ROLES.items() if role == PRODUCER]
    assert producer_routes == [("POST", "/transactions"), ("POST", "/events")]


def test_the_openapi_document_declares_the_same_security_per_operation() -> None:
    schemes = OPENAPI["components"]["securitySchemes"]
    for name in ("producerApiKey", "analystApiKey"):
        assert schemes[name] == {**schemes[name], "type": "apiKey", "in": "header", "name": "x-api-key"}
    assert schemes["sigv4"]["type"] == "apiKey" and schemes["sigv4"]["name"] == "Authorization"
    assert "security" not in OPENAPI or OPENAPI["security"] == []  # no default: every operation says
    for (method, path), role in auth.ROUTE_ROLES.items():
        security = OPENAPI["paths"][path][method.lower()]["security"]
        assert {"producerApiKey" if role == PRODUCER else "analystApiKey": []} in security, (method, path)
        assert {"sigv4": []} in security, (method, path)
        responses = OPENAPI["paths"][path][method.lower()]["responses"]
        assert {"401", "403"} <= set(responses), (method, path)


def test_the_credential_stays_at_the_gateway() -> None:
    event = proxy_event("GET", "/health", {"x-api-key": "secret", "X-Api-Key": "secret", "Accept": "*/*"}, None, "ana")
    assert event is not None
    assert event["headers"] == {"Accept": "*/*"}
    assert event["requestContext"]["identity"] == {"caller": "ana"}


# --- the registry --------------------------------------------------------------------------------------
@pytest.fixture
def registry(fake_aws_env: None) -> Iterator[CredentialRegistry]:
    with mock_aws():
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        reg = CredentialRegistry(boto3.client("dynamodb", region_name="us-east-1"), "mtx-test-api-credentials")
        reg.ensure_table(key)
        reg.ensure_table(key)  # idempotent
        sse = reg.ddb.describe_table(TableName=reg.table)["Table"]["SSEDescription"]
        assert sse["SSEType"] == "KMS" and sse["KMSMasterKeyArn"] == key
        yield reg


def test_only_the_hash_of_a_key_is_stored(registry: CredentialRegistry) -> None:
    key = registry.create("game-a")
    assert key.startswith("mtxp_") and len(key) > 40
    items = registry.ddb.scan(TableName=registry.table)["Items"]
    assert key not in json.dumps(items)
    assert items[0]["key_hash"]["S"] == auth.key_hash(key)
    assert registry.authorize(PRODUCER, key).principal_id == "game-a"


def test_producers_are_disabled_and_rotated_one_at_a_time(registry: CredentialRegistry) -> None:
    a, b = registry.create("game-a"), registry.create("game-b")
    analyst = registry.create("ana", ANALYST)
    assert registry.disable("game-a") == 1
    assert registry.authorize(PRODUCER, a).status == 401
    assert registry.authorize(PRODUCER, b).allowed  # the other producer is untouched
    assert registry.authorize(ANALYST, analyst).allowed
    assert registry.principals() == {"game-a": DISABLED, "game-b": ACTIVE}
    assert registry.enable("game-a") == 1 and registry.authorize(PRODUCER, a).allowed
    b2 = registry.rotate("game-b")
    assert registry.authorize(PRODUCER, b).status == 401  # rotated away
    assert registry.authorize(PRODUCER, b2).principal_id == "game-b"
    assert registry.authorize(PRODUCER, a).allowed
    assert registry.enable("game-b") == 0  # a rotated-away key never comes back
    assert registry.authorize(PRODUCER, b).status == 401
    statuses = {(c.principal_id, c.status) for c in registry.credentials(PRODUCER)}
    assert statuses == {("game-a", ACTIVE), ("game-b", ROTATED), ("game-b", ACTIVE)}


def test_registry_refuses_bad_ids_duplicates_and_unknown_producers(registry: CredentialRegistry) -> None:
    registry.create("game-a")
    with pytest.raises(auth.PrincipalExists):
        registry.create("game-a")
    for bad in ("", "Game-A", "-game", "a" * 41, "game a", "game_a"):
        with pytest.raises(auth.InvalidAppId):
            registry.create(bad)
    with pytest.raises(auth.UnknownPrincipal):
        registry.disable("game-z")
    with pytest.raises(auth.UnknownPrincipal):
        registry.rotate("game-z")
    assert registry.authorize(PRODUCER, "mtxp_not-a-key").status == 401


# --- CORS: an allow-list, empty by default ---------------------------------------------------------------
def test_cors_answers_listed_origins_only() -> None:
    from lambdas.analytics_api.handler import response_headers
    from orchestration.settings import Settings

    event = {"headers": {"Origin": "https://dash.example.com"}}
    none = response_headers(event, Settings().allowed_origins)  # the default: no origin is allowed
    assert not any(k.lower().startswith("access-control") for k in none)
    allowed = Settings(cors_allowed_origins="https://dash.example.com, https://other.example.com").allowed_origins
    assert response_headers(event, allowed)["Access-Control-Allow-Origin"] == "https://dash.example.com"
    assert response_headers(event, allowed)["Vary"] == "Origin"
    stranger = response_headers({"headers": {"origin": "https://evil.example.com"}}, allowed)
    assert "Access-Control-Allow-Origin" not in stranger
    assert "*" not in json.dumps(response_headers({"headers": {"Origin": "*"}}, allowed))


# --- producer_id through the transaction workflow ----------------------------------------------------------
def _states(node: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, state in node["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(_states(branch))
    return found


def test_the_workflow_carries_producer_id_from_its_input_to_the_analytics_copy_and_dead_letters() -> None:
    asl = json.loads(
        (Path(__file__).resolve().parents[2] / "orchestration" / "state_machines" / "transaction.asl.json").read_text()
    )
    states = _states(asl)
    # the whole input: an input without producer_id (a dead letter of an older version) must not break the path
    assert states["ValidateTransaction"]["Parameters"]["Payload.$"] == "$"
    assert states["StripPII"]["Parameters"]["Payload"]["producer_id.$"] == "$.producer_id"
    assert states["StoreAnalyticsRecord"]["Parameters"]["Payload"]["producer_id.$"] == "$.producer_id"
    assert states["AttachProcessingError"]["Parameters"]["dead_letter"]["producer_id.$"] == "$.producer_id"


def test_the_functions_pass_producer_id_on_and_the_contract_is_unchanged() -> None:
    from contracts import validate_transaction
    from lambdas.strip_pii.handler import strip
    from lambdas.validate_transaction.handler import validate
    from tests.helpers import seed_tx

    tx = seed_tx()
    validated = validate({"transaction": tx, "received_at": None, "producer_id": "game-a"})
    assert validated["producer_id"] == "game-a" and "producer_id" not in validated["transaction"]
    assert validate({"transaction": tx, "received_at": None})["producer_id"] is None  # an older input
    stripped = strip({**validated})
    assert stripped["producer_id"] == "game-a" and "producer_id" not in stripped["record"]
    # the validated record is trusted, not validated again: StripPII only applies the PII rule to it
    ids = ("transaction_id", "event_date")
    assert [stripped[k] for k in ids] == [validated[k] for k in ids]
    assert "client_ip" not in stripped["record"] and validated["transaction"]["client_ip"] == tx["client_ip"]
    with pytest.raises(Exception, match="producer_id"):
        validate_transaction({**tx, "producer_id": "game-a"})  # not a field of the transaction: refused in it
