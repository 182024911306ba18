"""The capacity and cost model (`mtx cost --rate N`, docs/capacity.md).

What could fail: shards sized on bytes when records are the limit (or the other way round), a record
billed by its bytes instead of rounded up to a KiB, costs that do not scale with the rate, a
concurrency above what the shards allow, the page's table drifting from the model, a bad rate
accepted.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import pytest

from orchestration.cost import capacity
from orchestration.cost import command as cost
from orchestration.cost.model import load_prices

pytestmark = pytest.mark.unit

PAGE = Path(__file__).resolve().parents[2] / "docs" / "capacity.md"


def test_shards_follow_whichever_shard_limit_comes_first() -> None:
    small = capacity.Plan(10_000, capacity.StreamAssumptions(record_bytes=460))
    assert small.shards == 10  # 1,000 records/s per shard is the limit at 460 bytes
    large = capacity.Plan(10_000, capacity.StreamAssumptions(record_bytes=4_000))
    assert large.shards == math.ceil(10_000 * 4_000 / 1_048_576)  # 1 MiB/s is the limit at 4 KB


def test_kinesis_bills_each_record_rounded_up_to_a_kib() -> None:
    prices = load_prices()["prices"]
    small = capacity.Plan(1_000, capacity.StreamAssumptions(record_bytes=100)).stream_cost(prices)
    kib = capacity.Plan(1_000, capacity.StreamAssumptions(record_bytes=1_024)).stream_cost(prices)
    over = capacity.Plan(1_000, capacity.StreamAssumptions(record_bytes=1_025)).stream_cost(prices)
    assert small["Kinesis (on-demand)"] == kib["Kinesis (on-demand)"] < over["Kinesis (on-demand)"]


def test_costs_grow_with_the_rate_and_concurrency_stays_within_the_shards() -> None:
    low, high = capacity.Plan(1_000).estimate(), capacity.Plan(100_000).estimate()
    assert high["per_transaction_api_monthly_usd_total"] == pytest.approx(
        100 * low["per_transaction_api_monthly_usd_total"], rel=1e-3
    )
    assert high["stream"]["monthly_usd_total"] > 50 * low["stream"]["monthly_usd_total"]
    for rate in (1, 999, 1_000, 55_555, 100_000, 400_000):
        plan = capacity.Plan(rate)
        assert 1 <= plan.lambda_concurrency <= plan.shards * plan.assumptions.parallelization_factor
    assert capacity.Plan(400_000).needs_kinesis_quota_increase
    assert not capacity.Plan(1_000).needs_kinesis_quota_increase


def test_a_slow_handler_is_reported_as_not_keeping_up() -> None:
    slow = capacity.Plan(50_000, capacity.StreamAssumptions(per_record_ms=5.0))
    assert not slow.shard_keeps_up
    assert capacity.Plan(
        50_000, capacity.StreamAssumptions(per_record_ms=5.0, parallelization_factor=10)
    ).shard_keeps_up


def test_the_page_shows_what_the_model_prints() -> None:
    block = re.search(r"```\n(Sustained rates.*?)\n```", PAGE.read_text(), re.S)
    assert block, "docs/capacity.md has no table"
    assert block.group(1) == capacity.report([1_000, 10_000, 100_000]), (
        "docs/capacity.md is out of date: paste `mtx cost --rate 1000 --rate 10000 --rate 100000`"
    )


def test_the_command_prints_json_and_refuses_a_bad_rate(capsys) -> None:
    parser = argparse.ArgumentParser()
    cost.add_arguments(parser)
    assert cost.run(parser.parse_args(["--rate", "1000", "--json"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["stream"]["shards"] == 1 and out[0]["rate_per_second"] == 1000
    with pytest.raises(SystemExit, match="--rate must be a positive number"):
        cost.run(parser.parse_args(["--rate", "0"]))


def test_post_events_adds_one_request_per_batch_of_records() -> None:
    prices = load_prices()["prices"]
    full = capacity.Plan(1_000, capacity.StreamAssumptions(records_per_events_request=500)).events_api_cost(prices)
    thin = capacity.Plan(1_000, capacity.StreamAssumptions(records_per_events_request=100)).events_api_cost(prices)
    assert sum(thin.values()) == pytest.approx(5 * sum(full.values()))
    estimate = capacity.Plan(1_000).estimate()["stream"]
    assert estimate["via_events_api_monthly_usd_total"] > estimate["monthly_usd_total"]
