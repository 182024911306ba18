"""Hostile input at the analytics API (issue 20): each kind gets its exact answer, no job is started,
and a valid query still answers afterwards. The other entrances: tests/integration/test_hostile_input.py."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from orchestration.runtime.stack import LocalStack
from tests.integration.analytics_api.api_helpers import assert_documented, get, post_json

pytestmark = pytest.mark.integration

GET_CASES: list[tuple[str, str, int, str, list[tuple[str, str]]]] = [
    ("no-operation", "", 400, "InvalidParameters", [("operation", "operation.required")]),
    ("unknown-operation", "operation=drop_everything", 400, "UnknownOperation", [("operation", "operation.unknown")]),
    ("repeated-parameter", "operation=warehouse_info&operation=warehouse_info", 400, "InvalidParameters",
     [("operation", "parameter.repeated")]),
    ("parameter-of-another-operation", "operation=warehouse_info&level=player", 400, "InvalidParameters",
     [("level", "parameter.unknown")]),
    ("unknown-parameter-hostile-name", "operation=warehouse_info&" + quote("4111 1111 1111 1111") + "=1", 400,
     "InvalidParameters", [("*", "parameter.unknown")]),
    ("integer-out-of-range", "operation=player_analysis&limit=0", 400, "InvalidParameters",
     [("limit", "parameter.invalid")]),
    ("huge-integer", "operation=player_analysis&min_purchases=" + "9" * 5000, 400, "InvalidParameters",
     [("min_purchases", "parameter.invalid")]),
    ("decimal-nan", "operation=player_analysis&min_lifetime_value=NaN", 400, "InvalidParameters",
     [("min_lifetime_value", "parameter.invalid")]),
    ("decimal-too-many-places", "operation=player_analysis&whale_threshold=100.00001", 400, "InvalidParameters",
     [("whale_threshold", "parameter.invalid")]),
    ("thresholds-out-of-order", "operation=player_analysis&dolphin_threshold=500", 400, "InvalidParameters",
     [("parameters", "parameter.inconsistent")]),
    ("date-range-reversed", "operation=revenue_analysis&start_date=2026-02-01&end_date=2026-01-01", 400,
     "InvalidParameters", [("parameters", "parameter.inconsistent")]),
    ("impossible-date", "operation=revenue_analysis&start_date=2026-02-30", 400, "InvalidParameters",
     [("start_date", "parameter.invalid")]),
    ("sql-parameter", "operation=warehouse_info&sql=" + quote("select 1"), 400, "SqlNotAllowed",
     [("sql", "parameter.sql")]),
    ("sql-in-a-value", "operation=multi_dimensional_analytics&timeframe=" + quote("90 days; drop table x"), 400,
     "SqlNotAllowed", [("timeframe", "parameter.sql")]),
    ("nul-in-a-value", "operation=revenue_analysis&period=day%00", 400, "InvalidParameters",
     [("period", "parameter.invalid")]),
    ("bidi-in-a-value", "operation=revenue_analysis&period=" + quote("\u202eday"), 400, "InvalidParameters",
     [("period", "parameter.invalid")]),
    ("not-utf8-in-a-value", "operation=revenue_analysis&period=%ff%fe", 400, "InvalidParameters",
     [("period", "parameter.invalid")]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "query", "status", "code", "fields"), GET_CASES, ids=[c[0] for c in GET_CASES])
def test_a_hostile_query_gets_its_named_error(
    api: LocalStack, case: str, query: str, status: int, code: str, fields: list[tuple[str, str]]
) -> None:
    got, body = get(api, "/analytics?" + query)
    assert (got, body["error"]) == (status, code), body
    assert [(f["field"], f["rule"]) for f in body["fields"]] == fields, body
    assert "4111" not in json.dumps(body) and "drop table" not in json.dumps(body)
    assert_documented("GET", "/analytics", got, body)


POST_CASES: list[tuple[str, bytes, int, str, list[tuple[str, str]]]] = [
    ("duplicate-key", b'{"operation": "warehouse_info", "operation": "player_analysis"}', 400, "InvalidJson",
     [("operation", "json.duplicate_key")]),
    ("duplicate-parameter-key", b'{"operation": "player_analysis", "parameters": {"limit": 1, "limit": 2}}', 400,
     "InvalidJson", [("parameters.limit", "json.duplicate_key")]),
    ("bom", b'\xef\xbb\xbf{"operation": "warehouse_info"}', 400, "InvalidJson", [("$", "body.bom")]),
    ("not-utf8", b'{"operation": "warehouse_info\xff"}', 400, "InvalidJson", [("$", "body.not_utf8")]),
    ("deeply-nested", b'{"operation": "warehouse_info", "parameters": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400,
     "InvalidJson", [("$", "json.too_deep")]),
    ("nan", b'{"operation": "player_analysis", "parameters": {"min_lifetime_value": NaN}}', 400, "InvalidParameters",
     [("min_lifetime_value", "parameter.invalid")]),
    ("top-level-array", b'[{"operation": "warehouse_info"}]', 400, "InvalidJson", [("$", "json.not_object")]),
    ("parameters-not-an-object", b'{"operation": "warehouse_info", "parameters": [1]}', 400, "InvalidParameters",
     [("parameters", "parameter.invalid")]),
    ("unknown-field", b'{"operation": "warehouse_info", "priority": 1}', 400, "InvalidParameters",
     [("priority", "parameter.unknown")]),
    ("sql-in-parameters", b'{"operation": "warehouse_info", "parameters": {"where": "1=1"}}', 400, "SqlNotAllowed",
     [("where", "parameter.sql")]),
    ("truncated", b'{"operation": "warehouse_', 400, "InvalidJson", [("$", "json.malformed")]),
]  # fmt: skip


def _jobs(api: LocalStack) -> int:
    table = api.require_settings().analytics_jobs_table
    return int(api.client("dynamodb").scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"])


@pytest.mark.parametrize(("case", "body", "status", "code", "fields"), POST_CASES, ids=[c[0] for c in POST_CASES])
def test_a_hostile_job_request_gets_its_named_error_and_starts_no_job(
    api: LocalStack, case: str, body: bytes, status: int, code: str, fields: list[tuple[str, str]]
) -> None:
    before = _jobs(api)
    got, answer = post_json(api, "/analytics/jobs", body)
    assert (got, answer["error"]) == (status, code), answer
    assert [(f["field"], f["rule"]) for f in answer["fields"]] == fields, answer
    assert_documented("POST", "/analytics/jobs", got, answer)
    assert _jobs(api) == before


def test_after_all_that_a_valid_query_and_job_still_answer(api: LocalStack) -> None:
    status, body = get(api, "/analytics?operation=warehouse_info")
    assert status == 200, body
    payload: Any = {"operation": "warehouse_info"}
    status, body = post_json(api, "/analytics/jobs", payload)
    assert status == 202 and body["job_id"], body
