"""Known mart rows for the analytics API: tables shaped as the dbt marts, in schemas of their own.

dbt may not have built the marts (or another test may rebuild them), so the API is pointed
(``warehouse.overridden``) at ``api_test_marts`` / ``api_test_raw`` holding exact data.
Dates in fct_daily_revenue are relative to today (timeframes count back from today).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from contracts.warehouse import raw_table_ddl
from lambdas.analytics_api import warehouse
from lambdas.migrate_databases import roles
from orchestration.runtime.ports import free_port
from orchestration.runtime.stack import LocalStack

MARTS = "api_test_marts"
RAW = "api_test_raw"
LARGE_MARTS = "api_test_marts_large"
LARGE_PLAYERS = 1200

FCT_TRANSACTIONS_DDL = """
create table {schema}.fct_transactions (
    transaction_id varchar(64) not null, player_id varchar(64), game varchar(120), item_id varchar(64),
    item_name varchar(120), item_type varchar(32), amount numeric(18,3), currency varchar(3),
    amount_usd numeric(18,4), usd_exchange_rate numeric(18,8), exchange_rate_date date, has_exchange_rate boolean,
    payment_method varchar(32), payment_gateway varchar(32), transaction_status varchar(16), is_completed boolean,
    is_refunded boolean, server_region varchar(32), event_at timestamp, event_date date, event_month date,
    ingested_at timestamp, source_partition_date date, loaded_at timestamp
)
"""
FCT_DAILY_REVENUE_DDL = """
create table {schema}.fct_daily_revenue (
    revenue_date date, game varchar(120), server_region varchar(32), item_type varchar(32),
    transaction_count bigint, purchase_count bigint, refund_count bigint, chargeback_count bigint,
    failed_count bigint, pending_count bigint, paying_player_count bigint, gross_usd numeric(20,4),
    refunded_usd numeric(20,4), net_usd numeric(20,4), revenue_usd numeric(20,4),
    unconverted_purchase_count bigint, last_loaded_at timestamp
)
"""

# (player, status, amount_usd): p1 whale 120, p2 dolphin 25 (+ a refund), p3 minnow 5, p4 only a failed one
PLAYER_TRANSACTIONS: list[tuple[str, str, str]] = [
    ("p1", "completed", "50"), ("p1", "completed", "40"), ("p1", "completed", "30"),
    ("p2", "completed", "15"), ("p2", "completed", "10"), ("p2", "refunded", "5"),
    ("p3", "completed", "5"),
    ("p4", "failed", "20"),
]  # fmt: skip

TODAY = dt.datetime.now(dt.UTC).date()
# (days ago, game, region, item_type, transactions, purchases, refunds, revenue, refunded)
DAILY_REVENUE: list[tuple[int, str, str, str, int, int, int, str, str]] = [
    (10, "Game A", "EU-West", "cosmetic", 3, 3, 0, "100", "0"),
    (10, "Game B", "US-East", "currency", 2, 2, 0, "40", "0"),
    (40, "Game A", "US-East", "cosmetic", 1, 1, 0, "30", "0"),
    (40, "Game B", "US-East", "bundle", 3, 3, 1, "20", "25"),  # a completed, a refunded (10), a chargeback (15)
    (200, "Game A", "EU-West", "boost", 5, 5, 0, "500", "0"),
]
#: (game, item_type) -> charged-back purchases of that DAILY_REVENUE row (none elsewhere)
CHARGEBACKS: dict[tuple[str, str], int] = {("Game B", "bundle"): 1}
RAW_LOADED_AT = [dt.datetime(2026, 1, 1, 10, 0, 0), dt.datetime(2026, 1, 2, 3, 4, 5)]


def _fct_row(i: int, player: str, status: str, amount: str) -> dict[str, Any]:
    at = dt.datetime(2026, 1, 1, 12, 0, 0) + dt.timedelta(minutes=i)
    return {
        "transaction_id": f"{player}-{i}",
        "player_id": player,
        "game": "Game A",
        "item_id": "mtx_item",
        "item_name": "Item",
        "item_type": "cosmetic",
        "amount": Decimal(amount),
        "currency": "USD",
        "amount_usd": Decimal(amount),
        "usd_exchange_rate": Decimal(1),
        "exchange_rate_date": at.date(),
        "has_exchange_rate": True,
        "payment_method": "credit_card",
        "payment_gateway": "Stripe",
        "transaction_status": status,
        "is_completed": status == "completed",
        "is_refunded": status == "refunded",
        "server_region": "EU-West",
        "event_at": at,
        "event_date": at.date(),
        "event_month": at.date().replace(day=1),
        "ingested_at": at,
        "source_partition_date": at.date(),
        "loaded_at": at,
    }


def _insert(conn: psycopg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    placeholders = ", ".join(f"%({c})s" for c in cols)
    with conn.cursor() as cur:
        cur.executemany(f"insert into {table} ({', '.join(cols)}) values ({placeholders})", rows)


def build_marts(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in (MARTS, RAW, LARGE_MARTS):
            conn.execute(f"drop schema if exists {schema} cascade")
            conn.execute(f"create schema {schema}")
        for schema in (MARTS, LARGE_MARTS):
            conn.execute(FCT_TRANSACTIONS_DDL.format(schema=schema))
            conn.execute(FCT_DAILY_REVENUE_DDL.format(schema=schema))
        conn.execute(raw_table_ddl(schema=RAW))
        # what dbt's grants config and the migration step give the reader on the real schemas
        for schema in (MARTS, LARGE_MARTS):
            conn.execute(f"grant usage on schema {schema} to {roles.ANALYSTS_ROLE}")
            conn.execute(f"grant select on all tables in schema {schema} to {roles.ANALYSTS_ROLE}")
        conn.execute(f"grant usage on schema {RAW} to {roles.WAREHOUSE_READER}")
        conn.execute(f"grant select on {RAW}.mtx_transactions to {roles.WAREHOUSE_READER}")
        _insert(conn, f"{MARTS}.fct_transactions", [_fct_row(i, *t) for i, t in enumerate(PLAYER_TRANSACTIONS)])
        _insert(
            conn,
            f"{LARGE_MARTS}.fct_transactions",
            [_fct_row(i, f"bulk-{i:05d}", "completed", str(1 + i % 7)) for i in range(LARGE_PLAYERS)],
        )
        _insert(
            conn,
            f"{MARTS}.fct_daily_revenue",
            [
                {
                    "revenue_date": TODAY - dt.timedelta(days=ago),
                    "game": game,
                    "server_region": region,
                    "item_type": item_type,
                    "transaction_count": tx,
                    "purchase_count": purchases,
                    "refund_count": refunds,
                    "chargeback_count": CHARGEBACKS.get((game, item_type), 0),
                    "failed_count": 0,
                    "pending_count": 0,
                    "paying_player_count": purchases,
                    "gross_usd": Decimal(revenue) + Decimal(refunded),
                    "refunded_usd": Decimal(refunded),
                    "net_usd": Decimal(revenue),
                    "revenue_usd": Decimal(revenue),
                    "unconverted_purchase_count": 0,
                    "last_loaded_at": dt.datetime(2026, 1, 2),
                }
                for ago, game, region, item_type, tx, purchases, refunds, revenue, refunded in DAILY_REVENUE
            ],
        )
        raw_rows = []
        for i, loaded_at in enumerate(RAW_LOADED_AT):
            raw_rows.append(
                {
                    "transaction_id": f"raw-{i}",
                    "user_id": "u",
                    "game": "Game A",
                    "item_id": "mtx_item",
                    "item_name": "Item",
                    "item_type": "cosmetic",
                    "price_amount": Decimal(10),
                    "price_currency": "USD",
                    "payment_method": "credit_card",
                    "payment_gateway": "Stripe",
                    "transaction_status": "completed",
                    "server_region": "EU-West",
                    "event_at": loaded_at,
                    "ingested_at": loaded_at,
                    "event_date": loaded_at.date(),
                    "source_partition": loaded_at.date(),
                    "loaded_at": loaded_at,
                    "version": 1,
                    "previous_status": None,
                    "status_updated_at": loaded_at,
                }
            )
        # raw-0 was refunded later: its version 2 is a raw row of its own (two transactions, three rows)
        refund_at = RAW_LOADED_AT[0] + dt.timedelta(hours=1)
        raw_rows.append(
            raw_rows[0]
            | {"transaction_status": "refunded", "version": 2, "previous_status": "completed",
               "status_updated_at": refund_at, "ingested_at": refund_at, "loaded_at": refund_at}
        )  # fmt: skip
        _insert(conn, f"{RAW}.mtx_transactions", raw_rows)


@pytest.fixture(scope="session")
def analytics_stack(stack: LocalStack) -> Iterator[LocalStack]:
    """The stack with known marts, the API pointed at them."""
    build_marts(stack.dsn("warehouse"))
    with warehouse.overridden(marts_schema=MARTS, raw_schema=RAW):
        yield stack


@pytest.fixture
def api(analytics_stack: LocalStack) -> LocalStack:
    """analytics_stack with an empty cache table."""
    s = analytics_stack.require_settings()
    ddb = analytics_stack.client("dynamodb")
    for page in ddb.get_paginator("scan").paginate(TableName=s.analytics_cache_table, ProjectionExpression="cache_key"):
        for item in page["Items"]:
            ddb.delete_item(TableName=s.analytics_cache_table, Key={"cache_key": item["cache_key"]})
    return analytics_stack


@pytest.fixture(scope="session")
def down_secret_id(stack: LocalStack) -> str:
    """A warehouse secret whose database does not answer (a closed port)."""
    s = stack.require_settings()
    secret_id = f"{s.name_prefix}/warehouse-down"
    value = {**stack.secrets()[s.warehouse_reader_secret_id], "port": free_port()}
    sm = stack.client("secretsmanager")
    try:
        sm.create_secret(Name=secret_id, SecretString=json.dumps(value))
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))
    return secret_id
