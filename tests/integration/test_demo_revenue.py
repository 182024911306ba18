"""``make run``'s gross vs net figures read from a real warehouse database: the ``fct_hourly_revenue`` mart summed, or
why not (no mart yet, a mart without the columns), never a crash."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest

from orchestration.cli.demo_lifecycle import mart_revenue

pytestmark = pytest.mark.integration


def test_mart_revenue_sums_the_mart_or_says_why_not(fresh_database: Callable[[str], str]) -> None:
    dsn = fresh_database("demo_revenue")
    figures, why = mart_revenue(dsn)
    assert figures is None and why == "the warehouse has no analytics.fct_hourly_revenue mart (not in this version)"

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists analytics")
        conn.execute(
            "create table analytics.fct_hourly_revenue (game text, revenue_hour timestamp, revenue_usd numeric)"
        )
    figures, why = mart_revenue(dsn)
    assert figures is None and why == "analytics.fct_hourly_revenue has no gross_usd / net_usd columns"

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop table analytics.fct_hourly_revenue")
        conn.execute(
            "create table analytics.fct_hourly_revenue (game text, revenue_hour timestamp, purchase_count bigint,"
            " gross_usd numeric(20, 4), refunded_usd numeric(20, 4), net_usd numeric(20, 4))"
        )
        figures, why = mart_revenue(dsn)
        assert figures == {"purchases": 0, "gross_usd": 0, "refunded_usd": 0, "net_usd": 0}, "an empty mart: zeros"
        conn.execute(
            "insert into analytics.fct_hourly_revenue values"
            " ('Starfall Arena', '2026-10-01 10:00', 3, 29.97, 9.99, 19.98),"
            " ('Starfall Arena', '2026-10-01 11:00', 1, 4.99, 0, 4.99),"
            " ('Path Of Exile 2', '2026-10-02 08:00', 2, 10.00, 10.00, 0)"
        )
    figures, why = mart_revenue(dsn)
    assert why == "analytics.fct_hourly_revenue"
    assert figures == {"purchases": Decimal(6), "gross_usd": Decimal("44.96"), "refunded_usd": Decimal("19.99"),
                       "net_usd": Decimal("24.97")}  # fmt: skip
