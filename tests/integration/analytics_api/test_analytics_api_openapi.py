"""The server against its OpenAPI document: every documented route answers, others do not; and a
schemathesis-style fuzz (hypothesis, requests generated from the document) finds no 5xx and no
response outside the documented schemas."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.runtime.api_routes import PUBLIC_ROUTES, ROUTES
from orchestration.runtime.stack import LocalStack
from tests.helpers import seed_tx
from tests.integration.analytics_api.api_helpers import assert_documented, get, openapi, post_json, request

pytestmark = pytest.mark.integration

EXAMPLE_PATHS = {"/analytics/jobs/{jobId}": "/analytics/jobs/" + "0" * 32}


def test_every_documented_route_is_served_and_undocumented_ones_are_not(api: LocalStack) -> None:
    doc = openapi()
    served = set()
    for path, item in doc["paths"].items():
        for method in item:
            url = EXAMPLE_PATHS.get(path, path)
            if path == "/analytics":
                url += "?operation=warehouse_info"
            status, body = request(api, method.upper(), url, b"{}" if method == "post" else None)
            assert body.get("error") not in ("NotFound", "MethodNotAllowed"), (method, path, body)
            assert_documented(method.upper(), path, status, body)
            served.add((method.upper(), path))
    assert served == set(ROUTES) | set(PUBLIC_ROUTES)
    for method, path in [("GET", "/"), ("GET", "/transactions"), ("GET", "/analytics/jobs"), ("PUT", "/health"),
                         ("GET", "/analytics/jobs/a/b"), ("POST", "/analytics")]:  # fmt: skip
        status, body = request(api, method, path, b"{}" if method in ("POST", "PUT") else None)
        assert status in (404, 405), (method, path, status)
        assert body["error"] in ("NotFound", "MethodNotAllowed")


def test_transactions_responses_match_the_document(api: LocalStack) -> None:
    status, body = post_json(api, "/transactions", seed_tx())
    assert status == 202, body
    assert_documented("POST", "/transactions", status, body)
    status, body = post_json(api, "/transactions", {"transactionId": "x"})
    assert status == 400
    assert_documented("POST", "/transactions", status, body)


# --- fuzz -----------------------------------------------------------------------------------
def _from_schema(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """Valid-looking values for a query parameter schema (as text), mixed with arbitrary text."""
    options: list[st.SearchStrategy[str]] = [st.text(max_size=30)]
    if "enum" in schema:
        options.append(st.sampled_from([str(v) for v in schema["enum"]]))
    if "const" in schema:
        options.append(st.just(str(schema["const"])))
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    if "integer" in kinds:
        options.append(st.integers(min_value=-5, max_value=200_000).map(str))
    if "number" in kinds:
        options.append(st.decimals(min_value=-10, max_value=10**6, places=2, allow_nan=False).map(str))
    if schema.get("format") == "date" or any(s.get("format") == "date" for s in schema.get("anyOf", [])):
        options.append(st.dates().map(lambda d: d.isoformat()))
    return st.one_of(options)


def _analytics_queries() -> st.SearchStrategy[dict[str, str]]:
    """Any operation's parameters mixed with any other's (the document: one branch per operation)."""
    [param] = openapi()["paths"]["/analytics"]["get"]["parameters"]
    fields: dict[str, st.SearchStrategy[str]] = {}
    for branch in param["schema"]["oneOf"]:
        for name, schema in branch["properties"].items():
            options = [_from_schema(schema)] + ([fields[name]] if name in fields else [])
            fields[name] = st.one_of(options)
    optional = st.fixed_dictionaries({}, optional=fields)
    extra = st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=2)
    return st.tuples(optional, extra).map(lambda t: {**t[1], **t[0]})


FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@FUZZ
@given(query=_analytics_queries())
def test_fuzz_get_analytics(api: LocalStack, query: dict[str, str]) -> None:
    status, body = get(api, "/analytics?" + urlencode(query))
    assert status < 500, (query, body)
    assert_documented("GET", "/analytics", status, body)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=60),
        st.fixed_dictionaries(
            {"operation": st.one_of(st.sampled_from(["warehouse_info", "nope", "player_analysis"]), st.text())},
            optional={"parameters": st.dictionaries(st.text(max_size=12), st.one_of(st.text(), st.integers()))},
        ).map(lambda d: json.dumps(d).encode()),
    )
)
def test_fuzz_post_jobs(api: LocalStack, body: bytes) -> None:
    status, answer = post_json(api, "/analytics/jobs", body)
    assert status < 500, (body, answer)
    assert_documented("POST", "/analytics/jobs", status, answer)


@FUZZ
@given(job_id=st.text(min_size=1, max_size=40))
def test_fuzz_get_job(api: LocalStack, job_id: str) -> None:
    status, body = get(api, "/analytics/jobs/" + quote(job_id, safe=""))
    assert status < 500, (job_id, body)
    if body.get("error") != "NotFound":  # an id of only "/" or "." is another path
        assert_documented("GET", "/analytics/jobs/{jobId}", status, body)
