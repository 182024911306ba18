"""The committed OpenAPI document: valid, covers exactly the routes the server answers, mirrors the contracts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from lambdas.analytics_api.app import ROUTES as LAMBDA_ROUTES
from lambdas.analytics_api.models import OPERATIONS
from orchestration.runtime.api_routes import ANALYTICS_ROUTES, PUBLIC_ROUTES, ROUTES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DOC: dict[str, Any] = json.loads((ROOT / "orchestration" / "openapi.json").read_text())
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def documented_routes() -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, item in DOC["paths"].items() for m in item if m in METHODS}


def test_document_is_valid_openapi_3() -> None:
    assert DOC["openapi"].startswith("3.")
    validate(DOC)


def test_every_route_served_is_documented_and_vice_versa() -> None:
    assert documented_routes() == set(ROUTES) | set(PUBLIC_ROUTES)
    assert set(ANALYTICS_ROUTES) == set(LAMBDA_ROUTES)


def test_transaction_request_body_is_the_contract() -> None:
    contract = json.loads((ROOT / "contracts" / "transaction.schema.json").read_text())

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else rewrite(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    schemas = DOC["components"]["schemas"]
    body = DOC["paths"]["/transactions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Transaction"}
    top = {k: v for k, v in contract.items() if k not in ("$defs", "$id", "$schema")}
    assert schemas["Transaction"] == rewrite(top)
    for name, schema in contract["$defs"].items():
        assert schemas[name] == rewrite(schema), name


def test_analytics_parameters_are_per_operation() -> None:
    """Each operation's branch lists exactly its parameters (the query object and the job request)."""
    [param] = DOC["paths"]["/analytics"]["get"]["parameters"]
    assert (param["in"], param["style"], param["explode"], param["required"]) == ("query", "form", True, True)
    branches = param["schema"]["oneOf"]
    jobs = DOC["components"]["schemas"]["JobRequest"]["oneOf"]
    assert [b["properties"]["operation"]["const"] for b in branches] == list(OPERATIONS)
    assert [b["properties"]["operation"]["const"] for b in jobs] == list(OPERATIONS)
    for branch, job, model in zip(branches, jobs, OPERATIONS.values(), strict=True):
        assert set(branch["properties"]) - {"operation"} == set(model.model_fields)
        assert set(job["properties"]["parameters"]["properties"]) == set(model.model_fields)
        assert branch["additionalProperties"] is False and job["additionalProperties"] is False


def test_the_generated_parts_are_current() -> None:
    """The contract's schemas, the field error and the rule codes come from the code (`make schema`)."""
    from orchestration.openapi import DOCUMENT_PATH, build, render

    assert DOCUMENT_PATH.read_text() == render(build(DOC)), "run `make schema` and commit orchestration/openapi.json"
