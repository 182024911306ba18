"""GET /analytics?operation=realtime_revenue and its job: the real-time aggregates through the local API, exact
numbers, as the OpenAPI document describes them; its parameter errors name the parameter and the rule."""

from __future__ import annotations

import json
import urllib.parse
from decimal import Decimal

import pytest

from lambdas.common.realtime import AppliedVersion, apply_version, apply_versions
from orchestration.runtime.stack import LocalStack
from tests.helpers import unique_id
from tests.integration.analytics_api.api_helpers import assert_documented, assert_error, get

pytestmark = pytest.mark.integration


def _query(**params: str) -> str:
    return "/analytics?" + urllib.parse.urlencode({"operation": "realtime_revenue", **params})


def test_realtime_revenue_by_hour_and_by_item_day(api: LocalStack) -> None:
    game, item = f"Game {unique_id('rt')}", unique_id("item")
    t1, t2 = unique_id("tx"), unique_id("tx")
    apply_version(t1, 1, None, "completed", game, item, "2026-12-05T10:05:00Z", Decimal("19.99"))
    apply_version(t1, 2, "completed", "chargeback", game, item, "2026-12-05T10:05:00Z", Decimal("19.99"))
    apply_version(t2, 1, None, "completed", game, item, "2026-12-05T12:59:59Z", Decimal("5"))
    apply_versions(unique_id("chunk"), [
        AppliedVersion(unique_id("tx"), 1, None, "completed", game, "other", "2026-12-04T23:00:00Z", Decimal("1.5")),
    ])  # fmt: skip
    status, body = get(api, _query(game=game, from_hour="2026-12-05T00", to_hour="2026-12-05T23", item_id=item,
                                   from_day="2026-12-04"))  # fmt: skip
    assert status == 200, body
    assert_documented("GET", "/analytics", status, body)
    result = body["result"]
    assert result["rows"] == [
        {"hour": "2026-12-05T10", "purchases": 1, "gross_usd": "19.9900", "refunded_usd": "19.9900",
         "net_usd": "0.0000"},
        {"hour": "2026-12-05T12", "purchases": 1, "gross_usd": "5.0000", "refunded_usd": "0.0000",
         "net_usd": "5.0000"},
    ]  # fmt: skip
    assert result["totals"] == {"purchases": 2, "gross_usd": "24.9900", "refunded_usd": "19.9900",
                                "net_usd": "5.0000"}  # fmt: skip
    assert result["item"]["rows"] == [{"day": "2026-12-05", "purchases": 2, "gross_usd": "24.9900",
                                       "refunded_usd": "19.9900", "net_usd": "5.0000"}]  # fmt: skip
    # the hour before the range is left out (the other item's purchase at 23:00 the day before)
    status, wider = get(api, _query(game=game, from_hour="2026-12-04T23", to_hour="2026-12-05T10"))
    assert status == 200 and [r["hour"] for r in wider["result"]["rows"]] == ["2026-12-04T23", "2026-12-05T10"]
    assert "item" not in wider["result"]


def test_realtime_revenue_of_a_game_with_no_sales_is_empty(api: LocalStack) -> None:
    status, body = get(api, _query(game=unique_id("nobody"), from_hour="2026-12-05T00", to_hour="2026-12-05T01"))
    assert status == 200, body
    assert body["result"]["rows"] == [] and body["result"]["totals"]["purchases"] == 0


@pytest.mark.parametrize(
    ("params", "field", "rule"),
    [
        ({"from_hour": "2026-12-05T00", "to_hour": "2026-12-05T01"}, "game", "parameter.invalid"),
        ({"game": "G", "from_hour": "2026-12-05T09", "to_hour": "2026-12-05T08"}, "parameters",
         "parameter.inconsistent"),
        ({"game": "G", "from_hour": "2026-12-05 09", "to_hour": "2026-12-05T10"}, "from_hour", "parameter.invalid"),
    ],
)  # fmt: skip
def test_realtime_revenue_errors_name_the_parameter_and_rule(
    api: LocalStack, params: dict[str, str], field: str, rule: str
) -> None:
    status, body = get(api, _query(**params))
    assert_error(status, body, 400, "InvalidParameters")
    assert_documented("GET", "/analytics", status, body)
    assert {"field": field, "rule": rule} in [{"field": f["field"], "rule": f["rule"]} for f in body["fields"]]
    assert "2026-12-05 09" not in json.dumps(body)  # the value is never echoed
