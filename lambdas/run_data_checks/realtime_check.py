"""Reconciliation of the real-time aggregates with the marts, run after each analytics refresh.

The real-time rollups (DynamoDB, ``game#<game>`` x ``hour#<YYYY-MM-DDTHH>``; lambdas/common/realtime.py) and the
mart ``fct_hourly_revenue`` (game, revenue_hour, purchase_count, gross_usd, refunded_usd, net_usd) count the same
transaction versions by the same rules (``contracts.lifecycle.revenue``): once both have seen the same
transactions, every game x hour agrees exactly. Compared: the games of the mart, over the hours from the mart's
first to its last (the real-time side is ahead for the hours the warehouse has not loaded yet: those are not
compared). A difference names the game x hour and the differences of the four numbers: keys and amounts only.
Enforced once an entrance writes the aggregates (:func:`reconcile_when_written`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from contracts.lifecycle import Revenue
from lambdas.common import realtime

#: The mart the comparison reads (built by dbt: models/marts/.../fct_hourly_revenue.sql).
MART = "fct_hourly_revenue"
#: Differences the error message names (the count says how many there are in all).
SHOWN = 10

#: (game, hour as YYYY-MM-DDTHH) -> the hour's totals.
Hours = Mapping[tuple[str, str], Revenue]


@dataclass(frozen=True)
class Comparison:
    compared: int
    only_realtime: int
    only_mart: int
    #: (game, hour, real time minus mart) of every rollup that differs, in key order.
    differences: list[tuple[str, str, Revenue]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def message(self) -> str:
        def signed(value: Decimal | int) -> str:
            return f"{value:+}"

        shown = "; ".join(
            f"{game} {hour}: purchases {signed(d.purchases)}, gross_usd {signed(d.gross_usd)},"
            f" refunded_usd {signed(d.refunded_usd)}, net_usd {signed(d.net_usd)}"
            for game, hour, d in self.differences[:SHOWN]
        )
        return (
            f"real-time aggregates differ from {MART} in {len(self.differences)} of {self.compared} game x hour"
            f" rollups ({self.only_realtime} only in real time, {self.only_mart} only in the mart;"
            f" real time minus mart): {shown}"
        )

    def summary(self) -> dict[str, Any]:
        return {"compared": self.compared, "differing": len(self.differences),
                "only_realtime": self.only_realtime, "only_mart": self.only_mart}  # fmt: skip


def compare(realtime_hours: Hours, mart_hours: Hours) -> Comparison:
    """Every game x hour of either side; an hour missing on one side counts as zero there."""
    keys = sorted(set(realtime_hours) | set(mart_hours))
    zero = Revenue()
    differences = []
    for key in keys:
        delta = realtime_hours.get(key, zero) - mart_hours.get(key, zero)
        if not delta.is_zero():
            differences.append((key[0], key[1], delta))
    return Comparison(
        compared=len(keys),
        only_realtime=len(set(realtime_hours) - set(mart_hours)),
        only_mart=len(set(mart_hours) - set(realtime_hours)),
        differences=differences,
    )


def hour_text(moment: dt.datetime) -> str:
    """A warehouse hour (UTC, without a zone) or an aware time as the real-time key's hour."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return f"{moment:%Y-%m-%dT%H}"


def mart_hours(warehouse_dsn: str, marts_schema: str) -> dict[tuple[str, str], Revenue] | None:
    """The mart's rows by (game, hour); None when the mart does not exist (yet)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(warehouse_dsn) as conn:
        exists = conn.execute(
            "select 1 from information_schema.tables where table_schema = %s and table_name = %s", (marts_schema, MART)
        ).fetchone()
        if not exists:
            return None
        rows = conn.execute(
            sql.SQL("select game, revenue_hour, purchase_count, gross_usd, refunded_usd, net_usd from {}").format(
                sql.Identifier(marts_schema, MART)
            )
        ).fetchall()
    out: dict[tuple[str, str], Revenue] = {}
    for game, hour, purchases, gross, refunded, net in rows:
        key = (str(game), hour_text(hour))
        out[key] = out.get(key, Revenue()) + Revenue(
            int(purchases or 0), Decimal(gross or 0), Decimal(refunded or 0), Decimal(net or 0)
        )
    return out


def realtime_hours(games: set[str], first: str, last: str, table: str | None = None) -> dict[tuple[str, str], Revenue]:
    """The real-time rollups of ``games`` over the hours ``first``..``last`` (YYYY-MM-DDTHH), one Query per game."""
    start = dt.datetime.strptime(first, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
    end = dt.datetime.strptime(last, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
    out: dict[tuple[str, str], Revenue] = {}
    for game in sorted(games):
        for row in realtime.game_hours(game, start, end, table):
            out[(game, row["period"])] = Revenue(
                row["purchases"], row["gross_usd"], row["refunded_usd"], row["net_usd"]
            )
    return out


def reconcile(warehouse_dsn: str, marts_schema: str, table: str | None = None) -> Comparison | None:
    """Compare the real-time aggregates with the mart; None when the mart does not exist (nothing to compare:
    the marts' own checks report a missing mart)."""
    mart = mart_hours(warehouse_dsn, marts_schema)
    if mart is None:
        return None
    if not mart:
        return compare({}, {})
    hours = sorted(h for _, h in mart)
    return compare(realtime_hours({g for g, _ in mart}, hours[0], hours[-1], table), mart)


def reconcile_when_written(
    warehouse_dsn: str, marts_schema: str, writers: tuple[str, ...], table: str | None = None
) -> Comparison | None:
    """:func:`reconcile` once some entrance writes the real-time aggregates (``writers``: the functions
    lambdas/common/metrics.py REALTIME_WRITERS names, which its catalogue test keeps true to the code); before
    that, nothing to reconcile (None): every hour of the mart would differ from an empty table."""
    if not writers:
        return None
    return reconcile(warehouse_dsn, marts_schema, table)
