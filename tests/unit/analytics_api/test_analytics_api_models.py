"""Parameter validation, SQL refusal, normalisation, cache keys, quality score, routing (no servers)."""

from __future__ import annotations

import datetime as dt

import pytest

from lambdas.analytics_api import app, cache, models
from lambdas.analytics_api.errors import InvalidParameters, SqlNotAllowed, UnknownOperation
from lambdas.analytics_api.operations import quality_score, reconcile

pytestmark = pytest.mark.unit


def test_parameters_are_typed_and_defaults_filled() -> None:
    name, params = models.parse_operation("player_analysis", {"min_purchases": "3", "whale_threshold": "250.50"})
    assert name == "player_analysis"
    assert models.normalised(params) == {
        "level": "segment", "min_purchases": 3, "min_lifetime_value": "0", "dolphin_threshold": "20",
        "whale_threshold": "250.5", "limit": 1000,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("operation", "raw", "names"),
    [
        ("player_analysis", {"min_purchases": "many"}, {"min_purchases"}),
        ("player_analysis", {"dolphin_threshold": "200"}, {"parameters"}),
        ("player_analysis", {"min_lifetime_value": "NaN"}, {"min_lifetime_value"}),
        ("revenue_analysis", {"start_date": "2026-02-01", "end_date": "2026-01-01"}, {"parameters"}),
        ("multi_dimensional_analytics", {"timeframe": "90 weeks"}, {"timeframe"}),
        ("data_integrity_analysis", {"x": "1"}, {"x"}),
    ],
)
def test_invalid_parameters_are_named(operation: str, raw: dict[str, str], names: set[str]) -> None:
    with pytest.raises(InvalidParameters) as exc:
        models.parse_operation(operation, raw)
    assert {p["name"] for p in exc.value.details["parameters"]} == names


def test_unknown_operation_lists_valid_ones() -> None:
    with pytest.raises(UnknownOperation) as exc:
        models.parse_operation("drop_everything", {})
    assert exc.value.details["valid_operations"] == list(models.OPERATIONS)
    assert exc.value.status == 400


@pytest.mark.parametrize(
    "values",
    [
        {"sql": "anything"},
        {"QUERY": "x"},
        {"timeframe": "90 days; DROP TABLE x"},
        {"level": "player' OR 1=1 --"},
        {"level": "x UNION SELECT 1"},
        {"period": "day/*"},
        {"nested": {"deep": ["select 1"]}},
    ],
)
def test_sql_is_refused(values: dict[str, object]) -> None:
    with pytest.raises(SqlNotAllowed):
        models.reject_sql(values)


def test_plain_values_pass_the_sql_check() -> None:
    models.reject_sql({"timeframe": "90 days", "period": "month", "start_date": "2026-01-01", "min_purchases": 2})


@pytest.mark.parametrize(
    ("timeframe", "today", "since"),
    [
        ("90 days", dt.date(2026, 3, 31), dt.date(2025, 12, 31)),
        ("1 month", dt.date(2026, 3, 31), dt.date(2026, 2, 28)),
        ("3 months", dt.date(2026, 1, 15), dt.date(2025, 10, 15)),
        ("1 year", dt.date(2024, 2, 29), dt.date(2023, 2, 28)),
    ],
)
def test_timeframe_start(timeframe: str, today: dt.date, since: dt.date) -> None:
    assert models.MultiDimensionalParams(timeframe=timeframe).since(today) == since  # type: ignore[arg-type]


def test_cache_key_ignores_parameter_order_and_depends_on_values() -> None:
    a = cache.cache_key("player_analysis", {"min_purchases": 2, "level": "segment"})
    b = cache.cache_key("player_analysis", {"level": "segment", "min_purchases": 2})
    c = cache.cache_key("player_analysis", {"level": "segment", "min_purchases": 3})
    assert a == b != c
    assert a.startswith("player_analysis#")


def test_quality_score() -> None:
    assert quality_score(100, 100, 100)["quality_score"] == 100.0
    score = quality_score(100, 90, 90)  # raw 0.9, marts 1.0
    assert score["quality_score"] == round(100 * (0.9 + 1.0) / 2, 2)
    assert quality_score(0, 0, 0)["quality_score"] == 100.0


def test_contract_rejects_in_the_dead_letter_queue_are_accounted_for_not_lost() -> None:
    # 1,920 valid stored everywhere, 80 rejects dead-lettered (the demo's 4 %): nothing is lost
    result = reconcile(1920, 1920, 1920, 80)
    assert result["status"] == "ok"
    assert result["accounted"] == {"stored": 1920, "dead_lettered": 80}
    assert result["unaccounted"]["total"] == 0
    assert result["quality_score"] == 100.0


def test_rows_missing_downstream_are_unaccounted() -> None:
    result = reconcile(100, 90, 88, 0)
    assert result["unaccounted"] == {
        "total": 12, "raw_missing_compliance_rows": 10, "marts_missing_raw_rows": 2,
        "raw_rows_beyond_compliance": 0, "mart_rows_beyond_raw": 0,
    }  # fmt: skip
    assert result["status"] == "degraded"
    assert reconcile(100, 50, 50, 0)["status"] == "failing"


def test_a_surplus_downstream_is_unaccounted_too() -> None:
    result = reconcile(100, 101, 101, 3)
    assert result["unaccounted"]["raw_rows_beyond_compliance"] == 1
    assert result["unaccounted"]["total"] == 1
    assert result["status"] == "degraded"


def test_routing_without_backends() -> None:
    status, body = app.route(app.Request("GET", "/nowhere"))
    assert (status, body["error"]) == (404, "NotFound")
    status, body = app.route(app.Request("PUT", "/analytics/jobs"))
    assert (status, body["error"], body["allowed"]) == (405, "MethodNotAllowed", ["POST"])
    status, body = app.route(app.Request("GET", "/analytics", query={"operation": ["nope"]}))
    assert (status, body["error"]) == (400, "UnknownOperation")
    status, body = app.route(app.Request("POST", "/analytics/jobs", body="{"))
    assert (status, body["error"]) == (400, "InvalidJson")


def test_proxy_event_parsing() -> None:
    event = {
        "resource": "/analytics", "httpMethod": "GET", "queryStringParameters": {"operation": "b"},
        "multiValueQueryStringParameters": {"operation": ["a", "b"]},
    }  # fmt: skip
    request = app.Request.from_event(event)
    assert request.query == {"operation": ["a", "b"]}
    status, body = app.route(request)
    assert (status, body["error"]) == (400, "InvalidParameters")
