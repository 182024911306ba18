"""GET /analytics: every named operation against known mart rows, exact numbers; the DynamoDB cache."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import psycopg
import pytest

from lambdas.analytics_api.operations import quality_score
from orchestration.runtime.stack import LocalStack
from tests.integration.analytics_api.api_helpers import assert_documented, get
from tests.integration.analytics_api.conftest import DAILY_REVENUE, MARTS, RAW, TODAY

pytestmark = pytest.mark.integration


def analytics(stack: LocalStack, query: str) -> dict[str, Any]:
    status, body = get(stack, f"/analytics?{query}")
    assert status == 200, body
    assert_documented("GET", "/analytics", status, body)
    return body


def test_health_reports_every_dependency(api: LocalStack) -> None:
    status, body = get(api, "/health")
    assert status == 200, body
    assert_documented("GET", "/health", status, body)
    assert body["status"] == "ok"
    assert {name: d["status"] for name, d in body["dependencies"].items()} == {
        "warehouse": "ok", "cache_table": "ok", "jobs_table": "ok",
    }  # fmt: skip
    assert body["dependencies"]["cache_table"]["table_status"] == "ACTIVE"


def test_warehouse_info_lists_tables_counts_and_freshness(api: LocalStack) -> None:
    body = analytics(api, "operation=warehouse_info")
    result = body["result"]
    assert {MARTS, RAW, "raw"} <= set(result["schemas"])
    assert result["rows"] == [
        {"schema": MARTS, "table": "fct_daily_revenue", "table_type": "base table", "row_count": 5},
        {"schema": MARTS, "table": "fct_transactions", "table_type": "base table", "row_count": 8},
        # one row per stored version: raw-0's refund is a row of its own
        {"schema": RAW, "table": "mtx_transactions", "table_type": "base table", "row_count": 3},
    ]
    assert result["freshness"]["table"] == f"{RAW}.mtx_transactions"
    assert result["freshness"]["last_loaded_at"] == "2026-01-02T03:04:05"
    assert result["freshness"]["age_seconds"] > 0


def test_player_analysis_segments_with_having_thresholds(api: LocalStack) -> None:
    rows = analytics(api, "operation=player_analysis")["result"]["rows"]
    assert rows == [
        {"segment": "whale", "player_count": 1, "purchase_count": 3, "lifetime_value_usd": "120.0000",
         "average_lifetime_value_usd": "120.0000", "min_lifetime_value_usd": "120.0000",
         "max_lifetime_value_usd": "120.0000"},
        {"segment": "dolphin", "player_count": 1, "purchase_count": 2, "lifetime_value_usd": "25.0000",
         "average_lifetime_value_usd": "25.0000", "min_lifetime_value_usd": "25.0000",
         "max_lifetime_value_usd": "25.0000"},
        {"segment": "minnow", "player_count": 1, "purchase_count": 1, "lifetime_value_usd": "5.0000",
         "average_lifetime_value_usd": "5.0000", "min_lifetime_value_usd": "5.0000",
         "max_lifetime_value_usd": "5.0000"},
    ]  # fmt: skip
    # HAVING: at least two purchases drops the minnow; zero admits the player with only a failed payment
    two = analytics(api, "operation=player_analysis&min_purchases=2")["result"]["rows"]
    assert [r["segment"] for r in two] == ["whale", "dolphin"]
    zero = analytics(api, "operation=player_analysis&min_purchases=0")["result"]["rows"]
    assert [(r["segment"], r["player_count"]) for r in zero] == [
        ("whale", 1),
        ("dolphin", 1),
        ("minnow", 1),
        ("non_payer", 1),
    ]
    # thresholds move players between segments
    moved = analytics(api, "operation=player_analysis&whale_threshold=150&dolphin_threshold=4")["result"]["rows"]
    assert [(r["segment"], r["player_count"], r["lifetime_value_usd"]) for r in moved] == [("dolphin", 3, "150.0000")]
    players = analytics(api, "operation=player_analysis&level=player&min_lifetime_value=20")["result"]["rows"]
    assert players == [
        {"player_id": "p1", "segment": "whale", "purchase_count": 3, "lifetime_value_usd": "120.0000"},
        {"player_id": "p2", "segment": "dolphin", "purchase_count": 2, "lifetime_value_usd": "25.0000"},
    ]


def test_revenue_analysis_running_totals_and_ranks_by_day(api: LocalStack) -> None:
    body = analytics(api, "operation=revenue_analysis&period=day")
    assert body["result"]["currency"] == "USD"
    d = [(TODAY - dt.timedelta(days=n)).isoformat() for n in (200, 40, 10)]
    got = [
        (
            r["period_start"],
            r["game"],
            r["revenue_usd"],
            r["running_revenue_usd"],
            r["period_revenue_usd"],
            r["game_rank"],
        )
        for r in body["result"]["rows"]
    ]
    assert got == [
        (d[0], "Game A", "500.0000", "500.0000", "500.0000", 1),
        (d[1], "Game A", "30.0000", "530.0000", "50.0000", 1),
        (d[1], "Game B", "20.0000", "20.0000", "50.0000", 2),
        (d[2], "Game A", "100.0000", "630.0000", "140.0000", 1),
        (d[2], "Game B", "40.0000", "60.0000", "140.0000", 2),
    ]
    ranged = analytics(api, f"operation=revenue_analysis&start_date={d[1]}&end_date={d[1]}")["result"]["rows"]
    assert [(r["game"], r["running_revenue_usd"]) for r in ranged] == [("Game A", "30.0000"), ("Game B", "20.0000")]


def test_revenue_analysis_by_month(api: LocalStack) -> None:
    rows = analytics(api, "operation=revenue_analysis&period=month")["result"]["rows"]
    months: dict[tuple[str, str], float] = {}
    for ago, game, *_, revenue, _refunded in DAILY_REVENUE:
        key = ((TODAY - dt.timedelta(days=ago)).replace(day=1).isoformat(), game)
        months[key] = months.get(key, 0) + float(revenue)
    assert {(r["period_start"], r["game"]): float(r["revenue_usd"]) for r in rows} == months
    assert all(r["period_start"].endswith("-01") for r in rows)


def test_multi_dimensional_analytics_grouping_sets_over_timeframe(api: LocalStack) -> None:
    body = analytics(api, "operation=multi_dimensional_analytics&timeframe=90%20days")
    assert body["result"]["since"] == (TODAY - dt.timedelta(days=90)).isoformat()
    rows = {(r["grouping_level"], r["game"], r["server_region"], r["item_type"]): r for r in body["result"]["rows"]}
    assert len(rows) == 13
    total = rows[("total", None, None, None)]
    # refund_count: the refunded and the charged-back purchases, as refunded_usd sums them
    assert (total["transaction_count"], total["purchase_count"], total["refund_count"]) == (9, 9, 2)
    assert (total["revenue_usd"], total["refunded_usd"]) == ("190.0000", "25.0000")
    assert rows[("game", "Game A", None, None)]["revenue_usd"] == "130.0000"
    assert rows[("game", "Game B", None, None)]["revenue_usd"] == "60.0000"
    assert rows[("game_region", "Game A", "EU-West", None)]["revenue_usd"] == "100.0000"
    assert rows[("game_region", "Game B", "US-East", None)]["revenue_usd"] == "60.0000"
    assert rows[("game_region_item_type", "Game B", "US-East", "bundle")]["refund_count"] == 2
    assert {k[3]: r["revenue_usd"] for k, r in rows.items() if k[0] == "item_type"} == {
        "bundle": "20.0000", "cosmetic": "130.0000", "currency": "40.0000",
    }  # fmt: skip
    year = analytics(api, "operation=multi_dimensional_analytics&timeframe=1%20year")["result"]["rows"]
    assert next(r for r in year if r["grouping_level"] == "total")["revenue_usd"] == "690.0000"


def test_data_integrity_analysis_reconciles_every_store(api: LocalStack, clean_queues: LocalStack) -> None:
    with psycopg.connect(api.dsn("compliance")) as conn:
        compliance = conn.execute("select count(*) from compliance.transactions").fetchone()[0]  # type: ignore[index]
    result = analytics(api, "operation=data_integrity_analysis")["result"]
    assert result["rows"] == [
        {"source": "compliance.transactions", "row_count": compliance},
        {"source": f"{RAW}.mtx_transactions", "row_count": 2},  # transactions: 3 rows (versions), 2 ids
        {"source": f"{MARTS}.fct_transactions", "row_count": 8},
        {"source": "dead_letter_queue", "row_count": 0},
    ]
    expected = quality_score(compliance, 2, 8)
    assert result["quality_score"] == expected["quality_score"]
    assert result["checks"][1] == {"check": "marts_vs_raw", "expected": 2, "actual": 8, "difference": 6}
    assert result["accounted"] == {"stored": compliance, "dead_lettered": 0}
    # this module's fixture marts hold 8 rows over 2 raw ones: a surplus nothing accounts for
    assert result["unaccounted"]["mart_rows_beyond_raw"] == 6
    assert result["status"] != "ok"


def test_dead_letters_are_accounted_for_not_lost(api: LocalStack, clean_queues: LocalStack) -> None:
    sqs = api.client("sqs")
    before = analytics(api, "operation=data_integrity_analysis")["result"]
    assert before["accounted"]["dead_lettered"] == 0
    for i in range(3):
        sqs.send_message(QueueUrl=api.dead_letter_queue_url, MessageBody=f'{{"n": {i}}}', MessageGroupId=f"g{i}")
    s = api.require_settings()
    ddb = api.client("dynamodb")
    for item in ddb.scan(TableName=s.analytics_cache_table, ProjectionExpression="cache_key")["Items"]:
        ddb.delete_item(TableName=s.analytics_cache_table, Key={"cache_key": item["cache_key"]})  # a fresh count
    result = analytics(api, "operation=data_integrity_analysis")["result"]
    assert result["rows"][3] == {"source": "dead_letter_queue", "row_count": 3}
    assert result["accounted"]["dead_lettered"] == 3
    # three more dead letters move neither the unaccounted count, nor the score, nor the status
    assert result["unaccounted"] == before["unaccounted"]
    assert result["quality_score"] == before["quality_score"]
    assert result["status"] == before["status"]


def test_cache_miss_then_hit_with_normalised_parameters(api: LocalStack) -> None:
    first = analytics(api, "operation=player_analysis&min_purchases=2&level=segment")
    assert first["cached"] is False
    assert isinstance(first["expires_at"], int) and first["expires_at"] > time.time()
    # same operation, same parameters in another order and spelling (defaults filled, decimals normalised)
    second = analytics(api, "level=segment&operation=player_analysis&min_purchases=2&whale_threshold=100.00")
    assert second["cached"] is True
    assert second["result"] == first["result"]
    assert second["generated_at"] == first["generated_at"]
    other = analytics(api, "operation=player_analysis&min_purchases=3")
    assert other["cached"] is False


def test_cache_entry_past_its_ttl_is_a_miss(api: LocalStack) -> None:
    s = api.require_settings()
    assert analytics(api, "operation=warehouse_info")["cached"] is False
    assert analytics(api, "operation=warehouse_info")["cached"] is True
    ddb = api.client("dynamodb")
    (item,) = ddb.scan(TableName=s.analytics_cache_table)["Items"]
    assert item["operation"]["S"] == "warehouse_info"
    ddb.update_item(
        TableName=s.analytics_cache_table,
        Key={"cache_key": item["cache_key"]},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    again = analytics(api, "operation=warehouse_info")
    assert again["cached"] is False
    assert analytics(api, "operation=warehouse_info")["cached"] is True
