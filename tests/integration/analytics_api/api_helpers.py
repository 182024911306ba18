"""HTTP and OpenAPI helpers for the analytics API tests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from orchestration.runtime.auth import ANALYST, PRODUCER
from orchestration.runtime.stack import LocalStack

OPENAPI = Path(__file__).resolve().parents[3] / "orchestration" / "openapi.json"


@cache
def openapi() -> dict[str, Any]:
    return dict(json.loads(OPENAPI.read_text()))


def request(
    stack: LocalStack,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    role: str | None = "route",
) -> tuple[int, dict[str, Any]]:
    """One request to the local API, with the credential of ``role`` (producer, analyst; None: no credential;
    "route": the one the route needs, the producer's on /transactions, else the analyst's)."""
    assert stack.api is not None
    if role == "route":
        role = PRODUCER if path.startswith(("/transactions", "/events")) else ANALYST
    sent = {**(stack.api_headers(role) if role else {}), **(headers or {})}
    req = urllib.request.Request(f"{stack.api.url}{path}", data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get(stack: LocalStack, path: str, role: str | None = "route") -> tuple[int, dict[str, Any]]:
    return request(stack, "GET", path, role=role)


def post_json(stack: LocalStack, path: str, payload: Any, role: str | None = "route") -> tuple[int, dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return request(stack, "POST", path, body, {"Content-Type": "application/json"}, role=role)


def response_schema(method: str, resource: str, status: int) -> dict[str, Any]:
    doc = openapi()
    responses = doc["paths"][resource][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {resource} answered {status}, not documented"
    response = responses[str(status)]
    if "$ref" in response:  # a shared response: #/components/responses/<name>
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}


def assert_documented(method: str, resource: str, status: int, body: Any) -> None:
    """The response validates against the OpenAPI document's schema for this route and status."""
    Draft202012Validator(response_schema(method, resource, status)).validate(body)


def assert_error(status: int, body: dict[str, Any], expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]


def wait_for_job(stack: LocalStack, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = get(stack, f"/analytics/jobs/{job_id}")
        assert status == 200, body
        if body["status"] in ("COMPLETED", "FAILED"):
            return body
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} not finished after {timeout} s")
