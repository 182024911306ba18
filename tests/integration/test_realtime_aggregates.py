"""The real-time aggregates against the local stack's moto server (its table provisioned as Terraform declares it):
exactly once per transaction version and per bulk group, on a retry, after a partial write and under concurrent
writers; and the reconciliation with a mart shaped as fct_hourly_revenue in the stack's PostgreSQL warehouse."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from contracts.lifecycle import Revenue
from lambdas.common import realtime
from lambdas.common.errors import StorageUnavailable
from lambdas.common.realtime import AppliedVersion, apply_version, apply_versions, game_hours, item_days
from lambdas.run_data_checks.realtime_check import reconcile, reconcile_when_written
from orchestration.runtime.faults import FaultInjector, FaultPlan
from orchestration.runtime.stack import LocalStack
from tests.helpers import unique_id

pytestmark = pytest.mark.integration

HOUR = dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC)


def totals(game: str, first: dt.datetime = HOUR, last: dt.datetime = HOUR) -> Revenue:
    rows = game_hours(game, first, last)
    return sum((Revenue(r["purchases"], r["gross_usd"], r["refunded_usd"], r["net_usd"]) for r in rows), Revenue())


def test_the_table_is_provisioned_as_terraform_declares_it(stack: LocalStack) -> None:
    s = stack.require_settings()
    ddb = stack.client("dynamodb")
    table = ddb.describe_table(TableName=s.realtime_aggregates_table)["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    assert table["SSEDescription"]["SSEType"] == "KMS"
    ttl = ddb.describe_time_to_live(TableName=s.realtime_aggregates_table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    backups = ddb.describe_continuous_backups(TableName=s.realtime_aggregates_table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_a_version_applied_twice_counts_once(stack: LocalStack) -> None:
    game, item, tx = unique_id("game"), unique_id("item"), unique_id("tx")
    at = "2026-12-05T10:42:00Z"
    assert apply_version(tx, 1, None, "pending", game, item, at, Decimal("9.99")) is False  # worth nothing: no write
    assert game_hours(game, HOUR, HOUR) == []
    assert apply_version(tx, 2, "pending", "completed", game, item, at, Decimal("9.99")) is True
    assert apply_version(tx, 2, "pending", "completed", game, item, at, Decimal("9.99")) is False  # a retry
    assert totals(game) == Revenue(1, Decimal("9.9900"), Decimal(0), Decimal("9.9900"))
    assert apply_version(tx, 3, "completed", "refunded", game, item, at, Decimal("9.99")) is True
    assert apply_version(tx, 3, "completed", "refunded", game, item, at, Decimal("9.99")) is False  # a redrive
    assert totals(game) == Revenue(1, Decimal("9.9900"), Decimal("9.9900"), Decimal("0.0000"))
    [day] = item_days(item, HOUR.date(), HOUR.date())
    assert day == {"period": "2026-12-05", "purchases": 1, "gross_usd": Decimal("9.9900"),
                   "refunded_usd": Decimal("9.9900"), "net_usd": Decimal("0.0000")}  # fmt: skip
    marker = stack.client("dynamodb").get_item(
        TableName=stack.require_settings().realtime_aggregates_table,
        Key={"pk": {"S": f"applied#{tx}"}, "sk": {"S": "v#2"}},
    )["Item"]
    expires_in_days = (int(marker["expires_at"]["N"]) - time.time()) / 86_400
    assert realtime.MARKER_DAYS - 1 < expires_in_days <= realtime.MARKER_DAYS


def _versions(game: str, count: int) -> list[AppliedVersion]:
    """``count`` completed purchases of one game, one per hour (so the day and hour rollups need several groups)."""
    return [
        AppliedVersion(unique_id("tx"), 1, None, "completed", game, f"item-{i % 3}",
                       HOUR + dt.timedelta(hours=i, minutes=5), Decimal(f"{i}.25"))
        for i in range(count)
    ]  # fmt: skip


def test_a_bulk_group_applied_twice_counts_once(stack: LocalStack) -> None:
    game = unique_id("game")
    versions = _versions(game, 150)  # 150 hours + 3 items x 7 days = 171 rollups: two groups
    ref = unique_id("chunk")
    assert apply_versions(ref, versions) == 2
    assert apply_versions(ref, versions) == 0  # the chunk retried: both markers there, nothing added
    last = HOUR + dt.timedelta(hours=149)
    expected_gross = sum((Decimal(f"{i}.25") for i in range(150)), Decimal(0))
    assert totals(game, HOUR, last) == Revenue(150, expected_gross, Decimal(0), expected_gross)
    assert len(game_hours(game, HOUR, last)) == 150


def test_a_chunk_retried_after_a_partial_write_applies_each_group_once(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    game = unique_id("game")
    versions = _versions(game, 150)
    ref = unique_id("batch")
    original = realtime._write
    calls: list[int] = []

    def fails_second(items: list[dict[str, Any]]) -> bool:
        calls.append(1)
        if len(calls) == 2:
            raise StorageUnavailable("injected: the function died after its first group")
        return original(items)

    monkeypatch.setattr(realtime, "_write", fails_second)
    with pytest.raises(StorageUnavailable):
        apply_versions(ref, versions)
    monkeypatch.setattr(realtime, "_write", original)
    assert apply_versions(ref, versions) == 1  # the retry: the first group found its marker, the second applied
    expected_gross = sum((Decimal(f"{i}.25") for i in range(150)), Decimal(0))
    assert totals(game, HOUR, HOUR + dt.timedelta(hours=149)).gross_usd == expected_gross


def test_concurrent_applies_add_up_exactly(stack: LocalStack) -> None:
    game = unique_id("game")
    amounts = [Decimal(f"{i % 50}.{i % 100:02d}") for i in range(120)]
    tx_ids = [unique_id("tx") for _ in amounts]
    # every version sent twice, by different threads at once (a retry racing the first attempt), same rollup
    work = [(tx, amount) for tx, amount in zip(tx_ids, amounts, strict=True)] * 2

    def one(job: tuple[str, Decimal]) -> bool:
        return apply_version(job[0], 1, None, "completed", game, "item-x", "2026-12-05T10:30:00Z", job[1])

    with ThreadPoolExecutor(max_workers=8) as pool:
        applied = list(pool.map(one, work))
    assert sum(applied) == len(amounts)
    total = sum(amounts, Decimal(0))
    assert totals(game) == Revenue(len(amounts), total, Decimal(0), total)


def test_lost_answers_throttling_and_5xx_are_retried_and_still_count_once(stack: LocalStack) -> None:
    """DynamoDB faulted on 40% of the calls: throttled, a 5xx, the connection reset before the write, or AFTER it
    (applied, the answer lost: the retry finds the marker). Each caller retries StorageUnavailable as the state
    machine or the event source mapping would; the totals are exact."""
    game = unique_id("game")
    singles = [(unique_id("tx"), Decimal(f"{i}.{i:02d}")) for i in range(40)]
    bulk = _versions(game, 120)
    injector = FaultInjector(FaultPlan(s3=0.0, dynamodb=0.4, sqs_send=0.0, lambda_timeout=0.0, seed=25), enabled=True)

    def until_done(call: Any) -> None:
        for _ in range(20):
            try:
                call()
                return
            except StorageUnavailable:
                continue
        raise AssertionError("still failing after 20 tries")

    stack.moto.inject(injector)
    try:
        for tx, amount in singles:
            until_done(lambda tx=tx, amount=amount: apply_version(
                tx, 1, None, "completed", game, "item-f", "2026-12-05T10:00:00Z", amount))  # fmt: skip
            until_done(lambda tx=tx, amount=amount: apply_version(
                tx, 2, "completed", "refunded", game, "item-f", "2026-12-05T10:00:00Z", amount))  # fmt: skip
        ref = unique_id("chunk")
        until_done(lambda: apply_versions(ref, bulk))
    finally:
        stack.moto.inject(None)
    assert injector.injected[("dynamodb", "reset_after")] > 0, injector.summary()  # answers really were lost
    single_total = sum((a for _, a in singles), Decimal(0))
    bulk_total = sum((Decimal(f"{i}.25") for i in range(120)), Decimal(0))
    # hour 10 holds the 40 refunded purchases and the first bulk purchase (0.25); the bulk's other hours one each
    assert totals(game) == Revenue(41, single_total + Decimal("0.25"), single_total, Decimal("0.25"))
    assert totals(game, HOUR, HOUR + dt.timedelta(hours=119)) == Revenue(
        160, single_total + bulk_total, single_total, bulk_total
    )


@pytest.fixture
def mart(stack: LocalStack) -> Iterator[tuple[str, str]]:
    """A schema of its own with a table shaped as the mart fct_hourly_revenue; (warehouse DSN, schema)."""
    dsn, schema = stack.dsn("warehouse"), f"rt_{unique_id('m').replace('-', '_')}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL(
            "create table {}.fct_hourly_revenue (game varchar(120), revenue_hour timestamp, purchase_count bigint,"
            " gross_usd numeric(20,4), refunded_usd numeric(20,4), net_usd numeric(20,4))"
        ).format(sql.Identifier(schema)))  # fmt: skip
    yield dsn, schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))


def _mart_rows(dsn: str, schema: str, rows: list[tuple[str, dt.datetime, int, str, str, str]]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("truncate {}.fct_hourly_revenue").format(sql.Identifier(schema)))
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("insert into {}.fct_hourly_revenue values (%s, %s, %s, %s, %s, %s)").format(
                    sql.Identifier(schema)
                ),
                rows,
            )


def test_reconciliation_is_zero_when_both_saw_the_same_transactions_and_names_a_difference(
    stack: LocalStack, mart: tuple[str, str]
) -> None:
    dsn, schema = mart
    game_a, game_b = unique_id("game"), unique_id("game")
    at, later = "2026-12-05T10:05:00Z", "2026-12-05T11:59:00Z"
    t1, t2, t3 = unique_id("tx"), unique_id("tx"), unique_id("tx")
    apply_version(t1, 1, None, "completed", game_a, "i1", at, Decimal("10"))
    apply_version(t1, 2, "completed", "refunded", game_a, "i1", at, Decimal("10"))
    apply_version(t2, 1, None, "completed", game_a, "i2", later, Decimal("4.5"))
    apply_versions(unique_id("chunk"), [AppliedVersion(t3, 1, None, "completed", game_b, "i1", at, Decimal("1.25"))])
    # the same transactions as the mart counts them (warehouse hours: UTC, without a zone)
    h10, h11 = dt.datetime(2026, 12, 5, 10), dt.datetime(2026, 12, 5, 11)
    same = [(game_a, h10, 1, "10.0000", "10.0000", "0.0000"), (game_a, h11, 1, "4.5000", "0", "4.5000"),
            (game_b, h10, 1, "1.2500", "0", "1.2500")]  # fmt: skip
    _mart_rows(dsn, schema, same)
    result = reconcile(dsn, schema)
    assert result is not None and result.ok, result and result.message()
    assert result.summary() == {"compared": 3, "differing": 0, "only_realtime": 0, "only_mart": 0}

    # real time ahead of the warehouse: an hour after the mart's last is not compared
    apply_version(unique_id("tx"), 1, None, "completed", game_a, "i1", "2026-12-05T12:01:00Z", Decimal("3"))
    result = reconcile(dsn, schema)
    assert result is not None and result.ok

    # a version the mart has not counted (or counted twice on one side): named by key and amounts
    apply_version(unique_id("tx"), 1, None, "completed", game_b, "i1", at, Decimal("2"))
    result = reconcile(dsn, schema)
    assert result is not None and not result.ok
    assert result.summary() == {"compared": 3, "differing": 1, "only_realtime": 0, "only_mart": 0}
    assert f"{game_b} 2026-12-05T10: purchases +1, gross_usd +2.0000, refunded_usd +0.0000, net_usd +2.0000" in (
        result.message()
    )


def test_reconciliation_without_the_mart_or_before_any_writer_compares_nothing(
    stack: LocalStack, mart: tuple[str, str]
) -> None:
    assert reconcile(stack.dsn("warehouse"), f"no_such_schema_{unique_id('s').replace('-', '_')}") is None
    dsn, schema = mart
    _mart_rows(dsn, schema, [(unique_id("game"), dt.datetime(2026, 12, 5, 10), 1, "5", "0", "5")])
    assert reconcile_when_written(dsn, schema, ()) is None  # no entrance writes them yet: nothing to reconcile
    found = reconcile_when_written(dsn, schema, ("store_analytics",))
    assert found is not None and found.summary() == {"compared": 1, "differing": 1, "only_realtime": 0, "only_mart": 1}


def test_an_undone_version_is_withdrawn_once_and_a_redrive_applies_it_again(stack: LocalStack) -> None:
    """The undo of a version whose analytics copy could not be kept (undo_partial_write, a failed chunk) takes back
    what the version added, once: a retried undo and the undo of a version never applied subtract nothing; the
    redrive that stores the version again adds it again."""
    game, item, tx = unique_id("game"), unique_id("item"), unique_id("tx")
    v = AppliedVersion(tx, 2, "completed", "refunded", game, item, "2026-12-05T10:42:00Z", Decimal("4.50"))
    assert apply_version(tx, 1, None, "completed", game, item, v.event_at, v.amount_usd) is True
    assert realtime.withdraw_version(*v) is False  # never applied: nothing to take back
    assert apply_version(*v) is True
    assert realtime.withdraw_version(*v) is True
    assert realtime.withdraw_version(*v) is False  # the undo retried
    assert totals(game) == Revenue(1, Decimal("4.5000"), Decimal("0.0000"), Decimal("4.5000"))
    assert apply_version(*v) is True  # the redrive
    assert totals(game) == Revenue(1, Decimal("4.5000"), Decimal("4.5000"), Decimal("0.0000"))

    ref, chunk = unique_id("batch:run"), _versions(game := unique_id("game"), 120)
    assert apply_versions(ref, chunk) == realtime.withdraw_versions(ref, chunk) > 1  # every group taken back
    assert realtime.withdraw_versions(ref, chunk) == 0
    assert totals(game, HOUR, HOUR + dt.timedelta(hours=200)) == Revenue(0, Decimal(0), Decimal(0), Decimal(0))
