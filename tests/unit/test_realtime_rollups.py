"""The real-time aggregates without servers: the rollup keys, the deltas summed per rollup and cut into
deterministic groups, the reconciliation's comparison of two in-memory sets, and realtime_revenue's parameters."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from contracts.lifecycle import Revenue, revenue_delta
from lambdas.analytics_api import models
from lambdas.analytics_api.errors import InvalidParameters
from lambdas.common import realtime
from lambdas.common.realtime import AppliedVersion, aggregate, groups, rollup_keys
from lambdas.run_data_checks.realtime_check import compare

pytestmark = pytest.mark.unit


def v(tx: str, version: int, previous: str | None, status: str, amount: str | None = "10.00", *,
      game: str = "Game A", item: str = "sword", at: str = "2026-12-05T10:15:00Z") -> AppliedVersion:  # fmt: skip
    return AppliedVersion(tx, version, previous, status, game, item, at, None if amount is None else Decimal(amount))


def test_rollup_keys_are_the_utc_hour_and_day_of_the_event() -> None:
    assert rollup_keys("Game A", "sword", "2026-12-05T23:59:59.999+00:00") == (
        ("game#Game A", "hour#2026-12-05T23"), ("item#sword", "day#2026-12-05"))  # fmt: skip
    # 01:30 at +02:00 is 23:30 UTC the day before
    assert rollup_keys("G", "i", "2026-12-06T01:30:00+02:00") == (("game#G", "hour#2026-12-05T23"),
                                                                    ("item#i", "day#2026-12-05"))  # fmt: skip
    with pytest.raises(ValueError, match="event_at"):
        rollup_keys("G", "i", "2026-12-06T01:30:00")


def test_the_fast_path_for_stored_utc_times_agrees_with_parsing() -> None:
    """A stored record's time (``...Z``) is cut, not parsed: the same hour and day as parsing gives, for random
    times with and without fractions; any other form still goes through the parser."""
    import datetime as dt

    rng = random.Random(5)
    for _ in range(2_000):
        at = dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(10**9) / rng.choice([1, 7]))
        text = at.isoformat().replace("+00:00", "Z")
        assert rollup_keys("G", "i", text) == rollup_keys("G", "i", at)
        assert rollup_keys("G", "i", text) == rollup_keys("G", "i", at.isoformat())  # +00:00: parsed


def test_the_rollup_transactions_match_the_dynamodb_model() -> None:
    """The rollup writer's client skips the SDK's own parameter check (a third of the stream handler's CPU on
    transactions of 100 items: lambdas/common/aws.py): every action it sends is checked here instead, against
    botocore's model of TransactWriteItems, for apply and withdraw, per version and per group."""
    import boto3
    from botocore.validate import ParamValidator

    model = boto3.client("dynamodb", region_name="us-east-1").meta.service_model
    shape = model.operation_model("TransactWriteItems").input_shape
    assert shape is not None
    delta = Revenue(1, Decimal("9.9900"), Decimal("0"), Decimal("9.9900"))
    keys = rollup_keys("Game A", "sword", "2026-12-05T10:15:00Z")
    actions = [
        realtime._marker("t", "applied#x", "v#1", 1.0),
        realtime._unmarker("t", "applied#x", "v#1"),
        *(realtime._add("t", key, d) for key in keys for d in (delta, Revenue() - delta)),
    ]
    report = ParamValidator().validate({"TransactItems": actions}, shape)
    assert not report.has_errors(), report.generate_report()
    # and the check would see a wrong shape
    broken = ParamValidator().validate({"TransactItems": [{"Update": {"Key": {"pk": "not typed"}}}]}, shape)
    assert broken.has_errors()


def test_deltas_follow_the_lifecycle_and_sum_per_rollup() -> None:
    versions = [
        v("t1", 1, None, "completed", "10.00"),  # a purchase
        v("t2", 1, None, "pending", "4.00"),  # worth nothing yet
        v("t2", 2, "pending", "completed", "4.00"),  # now a purchase
        v("t3", 1, None, "completed", "2.5"),
        v("t3", 2, "completed", "refunded", "2.5"),  # stays in gross, leaves net
        v("t4", 1, None, "pending", "7"),
        v("t4", 2, "pending", "failed", "7"),  # never counted
        v("t5", 1, None, "completed", "1", at="2026-12-05T11:00:00Z"),  # the next hour, same day
    ]
    sums = aggregate(versions)
    assert sums[("game#Game A", "hour#2026-12-05T10")] == Revenue(
        3, Decimal("16.5000"), Decimal("2.5000"), Decimal("14.0000")
    )
    assert sums[("game#Game A", "hour#2026-12-05T11")] == Revenue(1, Decimal("1.0000"), Decimal(0), Decimal("1.0000"))
    assert sums[("item#sword", "day#2026-12-05")] == Revenue(
        4, Decimal("17.5000"), Decimal("2.5000"), Decimal("15.0000")
    )
    assert len(sums) == 3


def test_versions_worth_nothing_write_no_rollup() -> None:
    assert aggregate([v("t", 1, None, "pending"), v("t", 2, "pending", "failed")]) == {}
    # a free purchase is still a purchase: counted, with no money
    free = aggregate([v("a", 1, None, "completed", "0"), v("b", 1, None, "pending")])
    assert free[("game#Game A", "hour#2026-12-05T10")] == Revenue(1, Decimal("0.0000"), Decimal(0), Decimal("0.0000"))


def test_amounts_are_exact_decimals_at_four_places() -> None:
    sums = aggregate([v(f"t{i}", 1, None, "completed", "0.1") for i in range(10)])
    gross = sums[("game#Game A", "hour#2026-12-05T10")].gross_usd
    assert gross == Decimal("1.0000") and str(gross) == "1.0000"  # 0.1 ten times, exactly
    # an amount with more places is rounded to the warehouse's numeric(18,4) before it is added
    assert aggregate([v("t", 1, None, "completed", "1.23456")])[("item#sword", "day#2026-12-05")].gross_usd == Decimal(
        "1.2346"
    )


def _one_by_one(versions: list[AppliedVersion]) -> dict[tuple[str, str], Revenue]:
    """The definition: each version's own delta (``revenue_delta`` of its quantized amount) added to its two
    rollups, then the rollups whose sums are all zero left out."""
    sums: dict[tuple[str, str], Revenue] = {}
    for x in versions:
        amount = None if x.amount_usd is None else x.amount_usd.quantize(realtime.USD_PLACES)
        delta = revenue_delta(x.previous_status, x.status, amount)
        for key in rollup_keys(x.game, x.item_id, x.event_at):
            sums[key] = sums.get(key, Revenue()) + delta
    return {k: r for k, r in sums.items() if not r.is_zero()}


def test_the_grouped_sums_are_the_deltas_added_one_by_one() -> None:
    """``aggregate`` sums the amounts per move (previous -> status), game, item and hour and computes each group's
    delta once; over random versions (every move, amounts of up to 6 places, None and zero, times in and out of
    UTC) it gives exactly what adding each version's delta gives."""
    rng = random.Random(23)
    statuses = [None, "pending", "completed", "failed", "refunded", "chargeback"]
    for _ in range(200):
        versions = []
        for i in range(rng.randrange(1, 60)):
            previous = rng.choice(statuses)
            status = rng.choice([s for s in statuses if s is not None])
            amount = rng.choice([None, "0", f"{rng.randrange(10**7) / 10 ** rng.randrange(0, 7)}"])
            at = rng.choice(["2026-12-05T10:15:00Z", "2026-12-05T11:59:59.5Z", "2026-12-06T01:30:00+02:00"])
            game, item = rng.choice("AB"), rng.choice("xyz")
            versions.append(v(f"t{i}", 1, previous, status, amount, game=game, item=item, at=at))
        assert aggregate(versions) == _one_by_one(versions)


def test_groups_are_sorted_bounded_and_the_same_whatever_the_order_of_the_versions() -> None:
    versions = [v(f"t{i}", 1, None, "completed", "1", game=f"G{i % 7}", item=f"i{i % 90}",
                  at=f"2026-12-{1 + i % 20:02d}T{i % 24:02d}:00:00Z") for i in range(400)]  # fmt: skip
    parts = groups(aggregate(versions))
    keys = [key for part in parts for key, _ in part]
    assert keys == sorted(keys) and len(keys) == len(set(keys)) == len(aggregate(versions))
    assert len(parts) >= 3 and all(1 <= len(p) <= realtime.MAX_TRANSACTION_ITEMS - 1 for p in parts)
    shuffled = list(versions)
    random.Random(7).shuffle(shuffled)
    assert groups(aggregate(shuffled)) == parts
    assert groups({}) == []
    with pytest.raises(ValueError, match="size"):
        groups(aggregate(versions), size=0)


def test_the_comparison_is_zero_when_both_sides_saw_the_same_transactions() -> None:
    hours = {("Game A", "2026-12-05T10"): Revenue(2, Decimal("12.5000"), Decimal("2.5000"), Decimal("10.0000")),
             ("Game B", "2026-12-05T11"): Revenue(1, Decimal("3.0000"), Decimal(0), Decimal("3.0000"))}  # fmt: skip
    mart = {k: Revenue(r.purchases, r.gross_usd.quantize(Decimal("0.01")), r.refunded_usd, r.net_usd)
            for k, r in hours.items()}  # fmt: skip
    result = compare(hours, mart)
    assert result.ok and result.compared == 2 and result.differences == []
    assert result.summary() == {"compared": 2, "differing": 0, "only_realtime": 0, "only_mart": 0}


def test_a_difference_fails_with_keys_amounts_and_counts() -> None:
    a = ("Game A", "2026-12-05T10")
    b = ("Game B", "2026-12-05T11")
    c = ("Game C", "2026-12-05T12")
    realtime_side = {a: Revenue(2, Decimal("12.50"), Decimal("2.50"), Decimal("10.00")),
                     b: Revenue(1, Decimal("3"), Decimal(0), Decimal("3"))}  # fmt: skip
    mart = {a: Revenue(1, Decimal("10.00"), Decimal(0), Decimal("10.00")),  # real time counted a refund twice?
            c: Revenue(1, Decimal("4"), Decimal(0), Decimal("4"))}  # fmt: skip
    result = compare(realtime_side, mart)
    assert not result.ok
    assert [(g, h) for g, h, _ in result.differences] == [a, b, c]
    assert result.differences[0][2] == Revenue(1, Decimal("2.50"), Decimal("2.50"), Decimal("0.00"))
    assert result.differences[2][2] == Revenue(-1, Decimal("-4"), Decimal(0), Decimal("-4"))
    assert (result.compared, result.only_realtime, result.only_mart) == (3, 1, 1)
    message = result.message()
    assert message.startswith("real-time aggregates differ from fct_hourly_revenue in 3 of 3 game x hour rollups")
    assert "Game A 2026-12-05T10: purchases +1, gross_usd +2.50, refunded_usd +2.50, net_usd +0.00" in message
    assert "Game C 2026-12-05T12: purchases -1, gross_usd -4" in message


@pytest.mark.parametrize(
    ("params", "names", "reason"),
    [
        ({"from_hour": "2026-12-05T00", "to_hour": "2026-12-05T01"}, {"game"}, "Field required"),
        ({"game": "G", "from_hour": "2026-12-05", "to_hour": "2026-12-05T01"}, {"from_hour"}, "pattern"),
        ({"game": "G", "from_hour": "2026-02-30T00", "to_hour": "2026-03-01T01"}, {"parameters"}, "calendar hours"),
        ({"game": "G", "from_hour": "2026-12-05T24", "to_hour": "2026-12-06T01"}, {"from_hour"}, "pattern"),
        ({"game": "G", "from_hour": "2026-12-05T05", "to_hour": "2026-12-05T04"}, {"parameters"}, "not be after"),
        ({"game": "G", "from_hour": "2026-11-01T00", "to_hour": "2026-12-02T00"}, {"parameters"}, "744 hours"),
        ({"game": "G", "from_hour": "2026-12-05T00", "to_hour": "2026-12-05T01", "from_day": "2026-12-01"},
         {"parameters"}, "need item_id"),
        ({"game": "G", "from_hour": "2026-12-05T00", "to_hour": "2026-12-05T01", "item_id": "sword",
          "from_day": "2026-12-06"}, {"parameters"}, "from_day must not be after to_day"),
        ({"game": "G", "from_hour": "2026-12-05T00", "to_hour": "2026-12-05T01", "item_id": "a b"}, {"item_id"}, ""),
        ({"game": "G", "from_hour": "2026-12-05T00", "to_hour": "2026-12-05T01", "limit": "3"}, {"limit"}, "not a"),
    ],
)  # fmt: skip
def test_realtime_revenue_parameters_are_refused_by_name_and_rule(
    params: dict[str, str], names: set[str], reason: str
) -> None:
    with pytest.raises(InvalidParameters) as caught:
        models.parse_operation("realtime_revenue", params)
    details = caught.value.details
    assert {p["name"] for p in details["parameters"]} == names
    assert any(reason in p["reason"] for p in details["parameters"]), details
    for value in params.values():  # never the value itself (the hours are not secret, but the rule holds)
        if value not in ("G", "sword"):
            assert all(value not in p["reason"] for p in details["parameters"])


def test_realtime_revenue_defaults_the_item_days_to_the_hours_days() -> None:
    _, params = models.parse_operation(
        "realtime_revenue", {"game": "G", "from_hour": "2026-12-04T22", "to_hour": "2026-12-05T03", "item_id": "sword"}
    )
    assert isinstance(params, models.RealtimeRevenueParams)
    first, last = params.day_range()
    assert (first.isoformat(), last.isoformat()) == ("2026-12-04", "2026-12-05")
