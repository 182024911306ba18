"""The named operations: one parameterised SQL query (or a few) each, over the dbt marts.

Each returns a JSON-able dict whose ``rows`` list is the result set (its length is the
job's row count); extra keys carry summaries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from psycopg import sql

from lambdas.analytics_api import models
from lambdas.analytics_api.warehouse import AnalyticsConfig, config, fetch
from lambdas.common import realtime
from lambdas.common.aws import client

FAR_PAST = dt.date(1900, 1, 1)
FAR_FUTURE = dt.date(9999, 12, 31)


def jsonable(value: Any) -> Any:
    """Decimals as strings (money stays exact), dates and times as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _q(text: str, cfg: AnalyticsConfig) -> sql.Composed:
    return sql.SQL(text).format(marts=sql.Identifier(cfg.marts_schema), raw=sql.Identifier(cfg.raw_schema))


# --- warehouse_info ------------------------------------------------------------------
def age_seconds(loaded_at: dt.datetime | None, now: dt.datetime) -> int | None:
    """Whole seconds from a warehouse timestamp (UTC, without a zone) to ``now``; None for an empty table."""
    if loaded_at is None:
        return None
    if loaded_at.tzinfo is None:
        loaded_at = loaded_at.replace(tzinfo=dt.UTC)
    return int((now - loaded_at).total_seconds())


def warehouse_info(params: models.WarehouseInfoParams, cfg: AnalyticsConfig) -> dict[str, Any]:
    secret = cfg.warehouse_secret_id
    schemas = fetch(
        secret,
        "select schema_name from information_schema.schemata"
        " where schema_name not in ('information_schema') and schema_name not like 'pg\\_%%'"
        " order by schema_name",
    )
    # an IN list, not `= any(%(array)s)`: Redshift has no arrays (dbt/scripts/redshift_gate.py)
    tables = fetch(
        secret,
        "select table_schema as schema, table_name as table, lower(table_type) as table_type"
        " from information_schema.tables where table_schema in (%(raw_schema)s, %(marts_schema)s)"
        " order by table_schema, table_name",
        {"raw_schema": cfg.raw_schema, "marts_schema": cfg.marts_schema},
    )
    if tables:
        counts = sql.SQL(" union all ").join(
            sql.SQL("select {s} as schema, {t} as table, count(*) as row_count from {ident}").format(
                s=sql.Literal(t["schema"]), t=sql.Literal(t["table"]), ident=sql.Identifier(t["schema"], t["table"])
            )
            for t in tables
        )
        by_name = {(r["schema"], r["table"]): r["row_count"] for r in fetch(secret, counts)}
        for t in tables:
            t["row_count"] = int(by_name[(t["schema"], t["table"])])
    freshness: dict[str, Any] = {"table": f"{cfg.raw_schema}.{cfg.raw_table}", "last_loaded_at": None,
                                 "age_seconds": None}  # fmt: skip
    if any(t["schema"] == cfg.raw_schema and t["table"] == cfg.raw_table for t in tables):
        # the age is worked out here: now() is a leader-node-only function on Redshift, which
        # rejects it in a query that reads a table (dbt/scripts/redshift_gate.py)
        row = fetch(
            secret,
            sql.SQL("select max(loaded_at) as last_loaded_at from {}").format(
                sql.Identifier(cfg.raw_schema, cfg.raw_table)
            ),
        )[0]
        freshness.update(row, age_seconds=age_seconds(row["last_loaded_at"], dt.datetime.now(dt.UTC)))
    return {
        "schemas": [r["schema_name"] for r in schemas],
        "rows": tables,
        "freshness": freshness,
    }


# --- player_analysis -----------------------------------------------------------------
_PLAYER_TOTALS = """
with player_totals as (
    select
        player_id,
        sum(case when is_completed then 1 else 0 end) as purchase_count,
        coalesce(sum(case when is_completed then amount_usd end), 0) as lifetime_value_usd
    from {marts}.fct_transactions
    group by player_id
    having sum(case when is_completed then 1 else 0 end) >= %(min_purchases)s
        and coalesce(sum(case when is_completed then amount_usd end), 0) >= %(min_lifetime_value)s
),
segmented as (
    select
        player_id,
        purchase_count,
        lifetime_value_usd,
        case
            when purchase_count = 0 then 'non_payer'
            when lifetime_value_usd >= %(whale_threshold)s then 'whale'
            when lifetime_value_usd >= %(dolphin_threshold)s then 'dolphin'
            else 'minnow'
        end as segment
    from player_totals
)
"""

_PLAYER_SEGMENTS = (
    _PLAYER_TOTALS
    + """
select
    segment,
    cast(count(*) as bigint) as player_count,
    cast(sum(purchase_count) as bigint) as purchase_count,
    cast(sum(lifetime_value_usd) as numeric(20, 4)) as lifetime_value_usd,
    cast(round(avg(lifetime_value_usd), 4) as numeric(20, 4)) as average_lifetime_value_usd,
    cast(min(lifetime_value_usd) as numeric(20, 4)) as min_lifetime_value_usd,
    cast(max(lifetime_value_usd) as numeric(20, 4)) as max_lifetime_value_usd
from segmented
group by segment
order by min(lifetime_value_usd) desc, segment
"""
)

_PLAYER_ROWS = (
    _PLAYER_TOTALS
    + """
select
    player_id,
    segment,
    cast(purchase_count as bigint) as purchase_count,
    cast(lifetime_value_usd as numeric(20, 4)) as lifetime_value_usd
from segmented
order by lifetime_value_usd desc, player_id
limit %(limit)s
"""
)


def player_analysis(params: models.PlayerAnalysisParams, cfg: AnalyticsConfig) -> dict[str, Any]:
    query = _PLAYER_SEGMENTS if params.level == "segment" else _PLAYER_ROWS
    return {"rows": fetch(cfg.warehouse_secret_id, _q(query, cfg), params.model_dump())}


# --- revenue_analysis ----------------------------------------------------------------
_REVENUE = """
with by_period as (
    select
        cast(date_trunc(%(period)s, revenue_date) as date) as period_start,
        game,
        sum(purchase_count) as purchase_count,
        sum(revenue_usd) as revenue_usd
    from {marts}.fct_daily_revenue
    where revenue_date >= %(start_date)s
        and revenue_date <= %(end_date)s
    group by 1, 2
)
select
    period_start,
    game,
    cast(purchase_count as bigint) as purchase_count,
    cast(revenue_usd as numeric(20, 4)) as revenue_usd,
    cast(sum(revenue_usd) over (
        partition by game order by period_start rows between unbounded preceding and current row
    ) as numeric(20, 4)) as running_revenue_usd,
    cast(sum(revenue_usd) over (partition by period_start) as numeric(20, 4)) as period_revenue_usd,
    cast(rank() over (partition by period_start order by revenue_usd desc) as integer) as game_rank
from by_period
order by period_start, game_rank, game
"""


def revenue_analysis(params: models.RevenueAnalysisParams, cfg: AnalyticsConfig) -> dict[str, Any]:
    values = {
        "period": params.period,
        "start_date": params.start_date or FAR_PAST,
        "end_date": params.end_date or FAR_FUTURE,
    }
    rows = fetch(cfg.warehouse_secret_id, _q(_REVENUE, cfg), values)
    return {"currency": params.currency, "period": params.period, "rows": rows}


# --- multi_dimensional_analytics -----------------------------------------------------
# The grouping sets are spelled out (what rollup (game, server_region, item_type) plus
# (item_type) expands to): a flat list of column sets is the form both PostgreSQL and
# Redshift document; a ROLLUP nested inside GROUPING SETS is not in Redshift's examples.
_CUBE = """
select
    case cast(grouping(game, server_region, item_type) as integer)
        when 0 then 'game_region_item_type'
        when 1 then 'game_region'
        when 3 then 'game'
        when 6 then 'item_type'
        else 'total'
    end as grouping_level,
    game,
    server_region,
    item_type,
    cast(sum(transaction_count) as bigint) as transaction_count,
    cast(sum(purchase_count) as bigint) as purchase_count,
    cast(sum(refund_count + chargeback_count) as bigint) as refund_count,
    cast(sum(revenue_usd) as numeric(20, 4)) as revenue_usd,
    cast(sum(refunded_usd) as numeric(20, 4)) as refunded_usd
from {marts}.fct_daily_revenue
where revenue_date >= %(since)s
group by grouping sets (
    (game, server_region, item_type),
    (game, server_region),
    (game),
    (item_type),
    ()
)
order by grouping(game, server_region, item_type), game, server_region, item_type
"""


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def multi_dimensional_analytics(params: models.MultiDimensionalParams, cfg: AnalyticsConfig) -> dict[str, Any]:
    since = params.since(today_utc())
    rows = fetch(cfg.warehouse_secret_id, _q(_CUBE, cfg), {"since": since})
    return {"timeframe": params.timeframe, "since": since, "rows": rows}


# --- data_integrity_analysis ---------------------------------------------------------
def dead_letter_depth(queue_name: str) -> int:
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def quality_score(compliance: int, raw: int, marts: int) -> dict[str, Any]:
    """How much of what was stored reached each downstream store: two ratios in [0, 1], averaged, as a
    percentage. Dead letters are not in it: each one is accounted for, in the queue with its reason (most
    are records the contract rejected, as intended; the rest wait for a redrive)."""
    raw_coverage = min(raw, compliance) / compliance if compliance else 1.0
    mart_coverage = min(marts, raw) / raw if raw else 1.0
    score = round(100 * (raw_coverage + mart_coverage) / 2, 2)
    return {
        "quality_score": score,
        "ratios": {
            "raw_coverage_of_compliance": round(raw_coverage, 6),
            "mart_coverage_of_raw": round(mart_coverage, 6),
        },
    }


def reconcile(compliance: int, raw: int, marts: int, dead_letters: int) -> dict[str, Any]:
    """Every transaction stored (compliance), dead-lettered (accounted for, with its reason), or unaccounted.

    Unaccounted is what a store downstream misses (a compliance row not in raw, a raw row not in the marts:
    lost, or not loaded yet by a refresh) or holds beyond its source (a surplus: a duplicate or a row from
    nowhere). Dead letters are never unaccounted: the contract's rejects end there by design, and a valid
    transaction there is held for ``mtx dlq redrive``; their reasons are in the queue (``mtx dlq list``) and
    the per-error metric of the workflows, which this operation does not read (the queue holds card numbers
    and IP addresses, which the analytics side never sees). Status ``ok`` when nothing is unaccounted.
    """
    missing = {
        "raw_missing_compliance_rows": max(compliance - raw, 0),
        "marts_missing_raw_rows": max(raw - marts, 0),
    }
    surplus = {
        "raw_rows_beyond_compliance": max(raw - compliance, 0),
        "mart_rows_beyond_raw": max(marts - raw, 0),
    }
    unaccounted = sum(missing.values()) + sum(surplus.values())
    score = quality_score(compliance, raw, marts)
    status = "ok" if unaccounted == 0 else "degraded" if score["quality_score"] >= 90 else "failing"
    return {
        "accounted": {"stored": compliance, "dead_lettered": dead_letters},
        "unaccounted": {"total": unaccounted, **missing, **surplus},
        "status": status,
        **score,
    }


def data_integrity_analysis(params: models.DataIntegrityParams, cfg: AnalyticsConfig) -> dict[str, Any]:
    # the reader sees no compliance table: the count comes from a SECURITY DEFINER function (migration 003)
    compliance = int(fetch(cfg.compliance_secret_id, "select integrity.transaction_count() as n")[0]["n"])
    counts = fetch(
        cfg.warehouse_secret_id,
        _q(
            # the raw table holds one row per stored version: its transactions are its distinct ids
            "select (select count(distinct transaction_id) from {raw}.mtx_transactions) as raw_count,"
            " (select count(*) from {marts}.fct_transactions) as mart_count",
            cfg,
        ),
    )[0]
    raw, marts = int(counts["raw_count"]), int(counts["mart_count"])
    dead = dead_letter_depth(cfg.dead_letter_queue_name)
    rows = [
        {"source": "compliance.transactions", "row_count": compliance},
        {"source": f"{cfg.raw_schema}.mtx_transactions", "row_count": raw},
        {"source": f"{cfg.marts_schema}.fct_transactions", "row_count": marts},
        {"source": "dead_letter_queue", "row_count": dead},
    ]
    checks = [
        {"check": "raw_vs_compliance", "expected": compliance, "actual": raw, "difference": raw - compliance},
        {"check": "marts_vs_raw", "expected": raw, "actual": marts, "difference": marts - raw},
    ]
    return {"rows": rows, "checks": checks, **reconcile(compliance, raw, marts, dead)}


# --- realtime_revenue ----------------------------------------------------------------
def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "purchases": sum(r["purchases"] for r in rows),
        **{n: sum((r[n] for r in rows), Decimal("0.0000")) for n in ("gross_usd", "refunded_usd", "net_usd")},
    }


def realtime_revenue(params: models.RealtimeRevenueParams, cfg: AnalyticsConfig) -> dict[str, Any]:
    """The real-time aggregates (lambdas/common/realtime.py), read with Query only: no warehouse."""
    first, last = params.hour_range()
    hours = [{"hour": r.pop("period"), **r} for r in realtime.game_hours(params.game, first, last)]
    result: dict[str, Any] = {"game": params.game, "rows": hours, "totals": _totals(hours)}
    if params.item_id is not None:
        first_day, last_day = params.day_range()
        days = [{"day": r.pop("period"), **r} for r in realtime.item_days(params.item_id, first_day, last_day)]
        result["item"] = {"item_id": params.item_id, "rows": days, "totals": _totals(days)}
    return result


#: Operations that read no warehouse (DynamoDB only): no SQL for the Redshift checks (dbt/scripts/redshift_capture*).
READS_NO_WAREHOUSE = frozenset({"realtime_revenue"})

RUNNERS: dict[str, Callable[[Any, AnalyticsConfig], dict[str, Any]]] = {
    "warehouse_info": warehouse_info,
    "player_analysis": player_analysis,
    "revenue_analysis": revenue_analysis,
    "multi_dimensional_analytics": multi_dimensional_analytics,
    "data_integrity_analysis": data_integrity_analysis,
    "realtime_revenue": realtime_revenue,
}

#: Cache lifetime per operation (seconds): counts and freshness age fast.
CACHE_TTL_SECONDS: dict[str, int] = {
    "warehouse_info": 60,
    "data_integrity_analysis": 60,
    "player_analysis": 300,
    "revenue_analysis": 300,
    "multi_dimensional_analytics": 300,
    # real time: a few seconds of cache absorb a dashboard's refreshes without hiding a minute's sales
    "realtime_revenue": 5,
}

assert set(RUNNERS) == set(models.OPERATIONS)


def run(operation: str, params: models.Params, cfg: AnalyticsConfig | None = None) -> dict[str, Any]:
    """Run one validated operation; the result is JSON-able."""
    result: dict[str, Any] = jsonable(RUNNERS[operation](params, cfg or config()))
    return result
