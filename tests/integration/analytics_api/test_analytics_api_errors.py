"""Every error case: stable JSON codes, SQL refused, database text never returned."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from lambdas.analytics_api import warehouse
from lambdas.analytics_api.models import OPERATIONS
from orchestration.runtime.stack import LocalStack
from tests.integration.analytics_api.api_helpers import assert_documented, assert_error, get, post_json, request

pytestmark = pytest.mark.integration


def test_unknown_operation_lists_the_valid_ones(api: LocalStack) -> None:
    status, body = get(api, "/analytics?operation=customer_analysis")
    assert_error(status, body, 400, "UnknownOperation")
    assert body["valid_operations"] == list(OPERATIONS)
    assert_documented("GET", "/analytics", status, body)


def test_missing_operation(api: LocalStack) -> None:
    status, body = get(api, "/analytics")
    assert_error(status, body, 400, "InvalidParameters")
    assert body["parameters"][0]["name"] == "operation"


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("operation=player_analysis&min_purchases=abc", {"min_purchases"}),
        ("operation=player_analysis&min_purchases=-1&limit=0", {"min_purchases", "limit"}),
        ("operation=player_analysis&colour=blue", {"colour"}),
        ("operation=revenue_analysis&currency=EUR", {"currency"}),
        ("operation=revenue_analysis&period=week", {"period"}),
        ("operation=revenue_analysis&start_date=2026-02-30", {"start_date"}),
        ("operation=multi_dimensional_analytics&timeframe=2%20weeks", {"timeframe"}),
        ("operation=warehouse_info&period=day", {"period"}),
        ("operation=warehouse_info&operation=player_analysis", {"operation"}),
    ],
)
def test_bad_parameters_are_named(api: LocalStack, query: str, names: set[str]) -> None:
    status, body = get(api, f"/analytics?{query}")
    assert_error(status, body, 400, "InvalidParameters")
    assert {p["name"] for p in body["parameters"]} == names
    for name in names:
        assert name in body["message"]
    assert_documented("GET", "/analytics", status, body)


@pytest.mark.parametrize(
    "query",
    [
        "operation=warehouse_info&sql=" + quote("select * from compliance.transactions"),
        "operation=player_analysis&query=" + quote("select 1"),
        "operation=multi_dimensional_analytics&timeframe=" + quote("90 days; drop table raw.mtx_transactions"),
        "operation=player_analysis&level=" + quote("player' union select password from pg_shadow --"),
        "operation=" + quote("warehouse_info; delete from raw.mtx_transactions"),
    ],
)
def test_sql_in_a_request_is_refused(api: LocalStack, query: str) -> None:
    status, body = get(api, f"/analytics?{query}")
    assert_error(status, body, 400, "SqlNotAllowed")
    assert_documented("GET", "/analytics", status, body)


def test_sql_in_a_job_request_is_refused(api: LocalStack) -> None:
    status, body = post_json(api, "/analytics/jobs", {"operation": "warehouse_info", "parameters": {"sql": "select 1"}})
    assert_error(status, body, 400, "SqlNotAllowed")
    assert_documented("POST", "/analytics/jobs", status, body)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{not json", "InvalidJson"),
        (b"", "InvalidJson"),
        (b"[1, 2]", "InvalidJson"),
        (json.dumps({"parameters": {}}).encode(), "InvalidParameters"),
        (json.dumps({"operation": "warehouse_info", "extra": 1}).encode(), "InvalidParameters"),
        (json.dumps({"operation": "nope"}).encode(), "UnknownOperation"),
        (
            json.dumps({"operation": "player_analysis", "parameters": {"min_purchases": "x"}}).encode(),
            "InvalidParameters",
        ),
    ],
)
def test_bad_job_requests(api: LocalStack, payload: bytes, code: str) -> None:
    status, body = post_json(api, "/analytics/jobs", payload)
    assert_error(status, body, 400, code)
    assert_documented("POST", "/analytics/jobs", status, body)


@pytest.mark.parametrize("job_id", ["0" * 32, "not-a-job", "..%2F..%2Fetc"])
def test_unknown_job_is_404(api: LocalStack, job_id: str) -> None:
    status, body = get(api, f"/analytics/jobs/{job_id}")
    assert_error(status, body, 404, "JobNotFound")
    assert_documented("GET", "/analytics/jobs/{jobId}", status, body)


def test_unknown_route_and_method(api: LocalStack) -> None:
    status, body = get(api, "/analytics/nope")
    assert_error(status, body, 404, "NotFound")
    status, body = request(api, "DELETE", "/analytics")
    assert_error(status, body, 405, "MethodNotAllowed")
    status, body = request(api, "POST", "/health", b"{}")
    assert_error(status, body, 405, "MethodNotAllowed")


def test_warehouse_unavailable_is_503_without_database_text(api: LocalStack, down_secret_id: str) -> None:
    with warehouse.overridden(warehouse_secret_id=down_secret_id):
        status, body = get(api, "/analytics?operation=player_analysis&min_purchases=7")
        assert_error(status, body, 503, "WarehouseUnavailable")
        assert_documented("GET", "/analytics", status, body)
        text = json.dumps(body).lower()
        for leak in ("connection", "refused", "127.0.0.1", "port", "psycopg", "warehouse-down"):
            assert leak not in text, body
        status, health = get(api, "/health")
    assert status == 503
    assert_documented("GET", "/health", status, health)
    assert health["error"] == "ServiceDegraded"
    assert health["status"] == "degraded"
    assert health["dependencies"]["warehouse"]["status"] == "unavailable"
    assert health["dependencies"]["cache_table"]["status"] == "ok"


def test_missing_marts_are_503_without_database_text(api: LocalStack) -> None:
    with warehouse.overridden(marts_schema="no_such_marts_schema"):
        status, body = get(api, "/analytics?operation=revenue_analysis&period=month")
    assert_error(status, body, 503, "DataNotReady")
    text = json.dumps(body).lower()
    assert "no_such_marts_schema" not in text and "relation" not in text and "fct_" not in text


@pytest.mark.parametrize("size", [70 * 1024, 300 * 1024])
def test_oversized_job_request_is_413(api: LocalStack, size: int) -> None:
    payload = json.dumps({"operation": "warehouse_info", "parameters": {"pad": "x" * size}}).encode()
    status, body = post_json(api, "/analytics/jobs", payload)
    assert_error(status, body, 413, "PayloadTooLarge")
    assert_documented("POST", "/analytics/jobs", status, body)
