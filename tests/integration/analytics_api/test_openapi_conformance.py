"""schemathesis against the local API with the committed OpenAPI document (issue 20, item 5).

For every operation, requests schemathesis generates from the document (positive data: what the
document calls valid, a fixed seed, bounded examples) get no 5xx, an answer of a documented status,
content type and schema, and a 2xx: what the document calls valid is accepted (a random job id is not a
job: 404 there). Two rules JSON Schema cannot state exactly are applied to the generated data, as a
producer would: an event time relative to its receipt (the year is moved into the past window) and an
amount within its currency's minor units (``multipleOf`` is not exact on binary floats), and realtime_revenue's
hour range within its limit (``_realtime_range``). Rules between
parameters (``x-rules`` of the document) are honoured by leaving out the cases that break them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from contracts.currencies import MINOR_UNITS
from orchestration.openapi import DOCUMENT_PATH
from orchestration.runtime.auth import ANALYST, PRODUCER
from orchestration.runtime.ingest import wait_for
from orchestration.runtime.stack import LocalStack

pytestmark = pytest.mark.integration

SCHEMA = schemathesis.openapi.from_path(DOCUMENT_PATH)
#: (method, path, examples): bounded, so the run stays within a minute or two.
OPERATIONS = [
    ("POST", "/transactions", 40),
    ("POST", "/events", 20),
    ("GET", "/health", 5),
    ("GET", "/analytics", 60),
    ("POST", "/analytics/jobs", 20),
    ("GET", "/analytics/jobs/{jobId}", 15),
    ("GET", "/openapi.json", 3),
]
#: the producers' routes (the rest are the analysts')
PRODUCER_PATHS = ("/transactions", "/events")
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_documented_operation_is_run() -> None:
    documented = {(op.method.upper(), op.path) for op in (r.ok() for r in SCHEMA.get_all_operations())}
    assert documented == {(m, p) for m, p, _ in OPERATIONS}


def _in_window(body: dict[str, Any]) -> None:
    """A generated RFC 3339 time, its year moved to 2024 (a leap year: every date exists): in the past."""
    stamp = body.get("event_timestamp")
    if isinstance(stamp, str) and len(stamp) >= 4 and stamp[:4].isdigit():
        body["event_timestamp"] = "2024" + stamp[4:]


def _minor_units(body: dict[str, Any]) -> None:
    price = (body.get("item_purchased") or {}).get("price") or {}
    amount, currency = price.get("amount"), price.get("currency")
    if isinstance(amount, int | float) and not isinstance(amount, bool) and currency in MINOR_UNITS:
        quantum = Decimal(1).scaleb(-MINOR_UNITS[currency])
        value = max(Decimal(repr(amount)).quantize(quantum), quantum)
        price["amount"] = int(value) if MINOR_UNITS[currency] == 0 else float(value)


def _realtime_range(case: Any) -> None:
    """realtime_revenue's range as a dashboard asks it: two independently generated hours are almost never within
    744 hours of each other, so the last hour is moved to the first (and the days to theirs, with an item)."""
    values = case.query if isinstance(case.query, dict) else None
    if isinstance(case.body, dict) and isinstance(case.body.get("parameters"), dict):
        values = case.body["parameters"]
    if not values or "from_hour" not in values or "to_hour" not in values:
        return
    values["to_hour"] = values["from_hour"]
    for key in ("from_day", "to_day"):
        if key in values:
            values[key] = str(values["from_hour"])[:10]


def _breaks_cross_rules(case: Any) -> bool:
    """The rules between parameters (x-rules): dolphin_threshold < whale_threshold, start_date <= end_date."""
    values = dict(case.query or {})
    if isinstance(case.body, dict):
        values.update(case.body.get("parameters") or {})
    dolphin, whale = values.get("dolphin_threshold", "20"), values.get("whale_threshold", "100")
    if Decimal(str(dolphin)) >= Decimal(str(whale)):
        return True
    start, end = values.get("start_date"), values.get("end_date")
    if start and end and dt.date.fromisoformat(str(start)) > dt.date.fromisoformat(str(end)):
        return True
    return "from_hour" in values and _breaks_realtime_rules(values)


def _breaks_realtime_rules(values: dict[str, Any]) -> bool:
    """realtime_revenue's x-rules: calendar hours in order within 744 hours; days only with item_id, in order
    within 366 days (defaults: the hours' days)."""
    try:
        first, last = (dt.datetime.strptime(str(values[k]), "%Y-%m-%dT%H") for k in ("from_hour", "to_hour"))
    except ValueError:
        return True
    if first > last or last - first >= dt.timedelta(hours=744):
        return True
    if "item_id" not in values and ("from_day" in values or "to_day" in values):
        return True
    first_day = dt.date.fromisoformat(str(values.get("from_day") or first.date()))
    last_day = dt.date.fromisoformat(str(values.get("to_day") or last.date()))
    return first_day > last_day or (last_day - first_day).days >= 366


@pytest.mark.parametrize(("method", "path", "examples"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_documented_valid_requests_are_accepted_and_answered_as_documented(
    api: LocalStack, method: str, path: str, examples: int
) -> None:
    assert api.api is not None
    operation = SCHEMA[path][method]
    credential = {} if path == "/openapi.json" else api.api_headers(PRODUCER if path in PRODUCER_PATHS else ANALYST)
    base_url = api.api.url
    sent: list[int] = []
    started: list[str] = []

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def run(case: Any) -> None:
        if path == "/transactions" and isinstance(case.body, dict):
            _in_window(case.body)
            _minor_units(case.body)
        _realtime_range(case)
        if _breaks_cross_rules(case):
            return
        response = case.call(base_url=base_url, headers=credential, timeout=60)
        sent.append(response.status_code)
        if path == "/transactions" and response.status_code == 202:
            started.append(response.json()["executionArn"])
        assert response.status_code < 500, (response.status_code, response.text[:500])
        case.validate_response(response, checks=CHECKS, headers=credential)
        accepted = 200 <= response.status_code < 300 or (
            path == "/analytics/jobs/{jobId}" and response.status_code == 404
        )
        assert accepted, (case.query, case.body, response.status_code, response.text[:500])  # fmt: skip

    run()
    # the workflows it started end here (their items are not in the shop: dead-lettered), not in a later test
    assert not wait_for(api.client, started, timeout=300).running
    assert len(sent) >= (1 if examples <= 5 else examples // 2), sent  # the run really sent requests
    print(f"{method} {path}: {len(sent)} requests, statuses {sorted(set(sent))}")


#: Negative data (what the document calls invalid): no 5xx, and the answer is still a documented one.
NEGATIVE = [(m, p, n) for m, p, n in OPERATIONS if p not in ("/health", "/openapi.json")]


@pytest.mark.parametrize(("method", "path", "examples"), NEGATIVE, ids=[f"{m} {p}" for m, p, _ in NEGATIVE])
def test_documented_invalid_requests_get_a_documented_4xx_never_a_5xx(
    api: LocalStack, method: str, path: str, examples: int
) -> None:
    assert api.api is not None
    operation = SCHEMA[path][method]
    credential = api.api_headers(PRODUCER if path in PRODUCER_PATHS else ANALYST)
    base_url = api.api.url
    sent: list[int] = []

    @settings(max_examples=max(examples // 2, 10), derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=credential, timeout=60)
        sent.append(response.status_code)
        assert response.status_code < 500, (response.status_code, response.text[:500])
        case.validate_response(response, checks=CHECKS, headers=credential)

    run()
    assert len(sent) >= 5, sent
    print(f"negative {method} {path}: {len(sent)} requests, statuses {sorted(set(sent))}")
