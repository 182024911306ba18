"""Raw rows for the dbt marts benchmark: n deterministic pseudo-random transactions in one SQL statement.

``fill_raw`` inserts rows into ``raw.mtx_transactions`` with generate_series + hashint8extended:
catalogue items priced in the currencies of the exchange-rate seed, contract enums, events over
``DAYS`` days from ``FIRST_DAY``. Also read by the analytics API benchmark.

The rows carry the columns the pipeline writes: the Enrich stage's fields (the amount in US dollars at the rate in
force on the event's day, country and region, the item's category and list price, a first-purchase flag) on all
but :data:`PRE_ENRICH` of them (stored before the stage: no dollars), and the lifecycle's versions: a refunded or
charged-back transaction is two rows, version 1 ``completed`` and version 2 with its ``previous_status``, each
with its own ingestion time. So the marts' dollar sums, current-version choice and refund and chargeback columns
work on real values. Simplified: the country is drawn per transaction, not per player, and the first-purchase
flag is a random tenth, not a player's first purchase.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg

from contracts.transaction import CONTRACT_VERSION, Gateway, PaymentMethod, ServerRegion
from contracts.warehouse import COLUMNS
from lambdas.common.enrich.geo import REGION_OF, UNKNOWN_REGION
from orchestration.sample_data.catalogue import CATALOGUE, CATEGORY_OF_TYPE
from orchestration.settings import REPO_ROOT

SEED = REPO_ROOT / "dbt" / "seeds" / "exchange_rates.csv"
FIRST_DAY = "2025-10-01"
DAYS = 90
#: Share (per mille) of rows stored before the Enrich stage: no Enrich field, so no amount in dollars.
PRE_ENRICH = 30
#: (country, region) of the players' addresses, the regions as the Enrich stage maps them; one address in twenty
#: is not located (no country, the unknown region)
PLACES = [(c, REGION_OF[c]) for c in ("US", "DE", "GB", "BR", "JP", "KR", "FR", "CA", "AU", "ZA", "AE")]
APPLICATION_ID = "bench-app"
#: A late batch refunds transactions of the last this many days of events (refunds mostly come within days of
#: the purchase; spread over the whole history, they make every day's and month's marts recompute).
REFUND_WINDOW_DAYS = 14


def load_day_after(days: int) -> str:
    """The day late batches are loaded on: three days after the last of ``days`` days of events, so after every row
    the first fill loaded (a second version is loaded up to a day and a half after its event)."""
    return str(dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=days + 3))


def _seed_rates() -> list[tuple[str, str, Decimal]]:
    """(currency, rate_date, usd_per_unit) of the exchange-rate seed (one rate a month and currency)."""
    with SEED.open() as fh:
        return [(row["currency"], row["rate_date"], Decimal(row["usd_per_unit"])) for row in csv.DictReader(fh)]


def _latest_rates() -> dict[str, Decimal]:
    latest: dict[str, tuple[str, Decimal]] = {}
    for currency, rate_date, rate in _seed_rates():
        if currency not in latest or rate_date > latest[currency][0]:
            latest[currency] = (rate_date, rate)
    return {c: r for c, (_, r) in sorted(latest.items())}


def _price_rows() -> tuple[list[tuple[Any, ...]], list[str]]:
    """(item_no, item_id, item_name, item_type, game, currency, amount, category, list_price_usd) for every seed
    currency (a price not in the tier table: the USD tier at the currency's latest rate)."""
    rates = _latest_rates()
    rows = []
    for k, item in enumerate(CATALOGUE):
        usd = item.prices["USD"]
        for currency, rate in rates.items():
            amount = item.prices.get(currency)
            if amount is None:  # not in the tier table: the USD tier at the latest rate
                amount = (usd / rate).quantize(Decimal("1") if rate < Decimal("0.01") else Decimal("0.01"))
            rows.append((k, item.item_id, item.item_name, str(item.item_type), item.game, currency, amount,
                         CATEGORY_OF_TYPE[item.item_type], usd))  # fmt: skip
    # weights: USD 40%, EUR 20%, GBP 10%, the rest share 30%
    others = [c for c in rates if c not in ("USD", "EUR", "GBP")]
    weighted = ["USD"] * 40 + ["EUR"] * 20 + ["GBP"] * 10 + [others[i % len(others)] for i in range(30)]
    return rows, weighted


def _sql_array(values: list[str | None]) -> str:
    return "array[" + ", ".join("null" if v is None else "'" + v.replace("'", "''") + "'" for v in values) + "]::text[]"


def fill_raw(
    conn: psycopg.Connection[Any], first: int, count: int, *, loaded_at: str, salt: int, days: tuple[int, int]
) -> None:
    """Insert transactions first..first+count-1 (a refunded or charged-back one as two versions); events on days
    [days[0], days[1]) after FIRST_DAY."""
    players = max(1_000, (first + count) // 20)
    statuses = ["completed"] * 84 + ["failed"] * 7 + ["pending"] * 3 + ["refunded"] * 5 + ["chargeback"] * 1
    n_items = len(CATALOGUE)
    _, currencies = _price_rows()
    # hourly: each row loaded two hours into its event's hour (a second version a day and a half later); else one
    # load time for the whole batch, as the job stamps every row it loads with its own start
    load_expr = (
        "date_trunc('hour', e.event_at) + interval '2 hours' + (v.version - 1) * interval '36 hours'"
        if loaded_at == "hourly"
        else f"timestamp '{loaded_at}'"
    )
    # a reversal: version 1 completed, version 2 the refund or chargeback, stored a day and a half later
    reversed_ = "g.status in ('refunded', 'chargeback')"
    conn.execute(
        f"""
        insert into raw.mtx_transactions (
            transaction_id, user_id, game, item_id, item_name, item_type, price_amount, price_currency,
            payment_method, payment_gateway, transaction_status, server_region, event_at, ingested_at, event_date,
            source_partition, loaded_at, amount_usd, usd_per_unit, fx_rate_date, country, region, item_category,
            list_price_usd, contract_version, application_id, is_first_purchase, version, previous_status,
            status_updated_at
        )
        select
            'tx-' || lpad(g.i::text, 10, '0'),
            'user_' || (abs(hashint8extended(g.i, {salt} + 1)) % {players}),
            p.game, p.item_id, p.item_name, p.item_type, p.amount, p.currency,
            (g.methods)[1 + abs(hashint8extended(g.i, {salt} + 4)) % cardinality(g.methods)],
            (g.gateways)[1 + abs(hashint8extended(g.i, {salt} + 5)) % cardinality(g.gateways)],
            case when v.version = 1 and {reversed_} then 'completed' else g.status end,
            (g.regions)[1 + abs(hashint8extended(g.i, {salt} + 7)) % cardinality(g.regions)],
            e.event_at,
            e.ingested_at + (v.version - 1) * interval '36 hours',
            e.event_at::date,
            e.event_at::date,
            {load_expr},
            case when g.enriched then round(p.amount * fx.usd_per_unit, 4) end,
            case when g.enriched then fx.usd_per_unit end,
            case when g.enriched then fx.rate_date end,
            case when g.enriched then (g.countries)[g.place] end,
            case when g.enriched then (g.regions_of)[g.place] end,
            case when g.enriched then p.category end,
            case when g.enriched then p.list_price_usd end,
            case when g.enriched then '{CONTRACT_VERSION}' end,
            case when g.enriched then '{APPLICATION_ID}' end,
            case when g.enriched then abs(hashint8extended(g.i, {salt} + 12)) % 10 = 0 end,
            v.version,
            case when v.version = 2 then 'completed' end,
            e.ingested_at + (v.version - 1) * interval '36 hours'
        from (
            select
                i,
                {_sql_array([str(m) for m in PaymentMethod])} as methods,
                {_sql_array([str(m) for m in Gateway])} as gateways,
                ({_sql_array(statuses)})[1 + abs(hashint8extended(i, {salt} + 6)) % {len(statuses)}] as status,
                {_sql_array([str(m) for m in ServerRegion])} as regions,
                {_sql_array(currencies)} as currencies,
                {_sql_array([c for c, _ in PLACES] + [None])} as countries,
                {_sql_array([r for _, r in PLACES] + [UNKNOWN_REGION])} as regions_of,
                -- one player address in twenty is not located: the array's last (null) place
                case when abs(hashint8extended(i, {salt} + 11)) % 20 = 0 then {len(PLACES) + 1}
                     else 1 + abs(hashint8extended(i, {salt} + 11)) % {len(PLACES)} end as place,
                abs(hashint8extended(i, {salt} + 13)) % 1000 >= {PRE_ENRICH} as enriched
            from generate_series({first}::bigint, {first + count - 1}::bigint) as g(i)
        ) as g
        cross join lateral (
            select timestamp '{FIRST_DAY}'
                + make_interval(days => {days[0]} + (abs(hashint8extended(g.i, {salt} + 9)) % {days[1] - days[0]})::int)
                + make_interval(secs => abs(hashint8extended(g.i, {salt} + 10)) % 86400) as event_at
        ) as e0
        cross join lateral (
            select e0.event_at, e0.event_at + make_interval(secs => 1 + abs(hashint8extended(g.i, {salt} + 8)) % 30)
                as ingested_at
        ) as e
        join pg_temp.bench_prices as p
            on p.item_no = abs(hashint8extended(g.i, {salt} + 2)) % {n_items}
            and p.currency = (g.currencies)[1 + abs(hashint8extended(g.i, {salt} + 3)) % cardinality(g.currencies)]
        -- the rate in force on the event's day, as the Enrich stage converts: the seed's rate of its month
        left join pg_temp.bench_rates as fx
            on fx.currency = p.currency and fx.rate_date = cast(date_trunc('month', e.event_at) as date)
        cross join lateral (
            select 1 as version union all select 2 where {reversed_}
        ) as v
        """
    )
    conn.execute("analyze raw.mtx_transactions")


def load_prices(conn: psycopg.Connection[Any]) -> None:
    rows, _ = _price_rows()
    conn.execute(
        "create temp table if not exists bench_prices (item_no int, item_id text, item_name text,"
        " item_type text, game text, currency text, amount numeric(18,3), category text, list_price_usd numeric(18,3))"
    )
    conn.execute(
        "create temp table if not exists bench_rates (currency text, rate_date date, usd_per_unit numeric(18,8),"
        " primary key (currency, rate_date))"
    )
    conn.execute("truncate bench_rates")
    with conn.cursor().copy("copy bench_rates from stdin") as copy:
        for rate in _seed_rates():
            copy.write_row(rate)
    conn.execute("analyze bench_rates")
    conn.execute("truncate bench_prices")
    with conn.cursor().copy("copy bench_prices from stdin") as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute("create index on bench_prices (item_no, currency)")
    conn.execute("analyze bench_prices")


def late_batch(dsn: str, first: int, count: int, *, loaded_at: str, salt: int, days: int) -> None:
    """count new transactions (events in the last 3 of `days` days) and count/10 late refunds of earlier completed
    ones of the last REFUND_WINDOW_DAYS days (their version 2), all loaded at `loaded_at` (after everything else)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        newest = conn.execute("select max(loaded_at) from raw.mtx_transactions").fetchone()
        if newest and newest[0] is not None and newest[0] >= dt.datetime.fromisoformat(loaded_at):
            # the incremental models would take the batch for already seen (their watermark is the newest loaded_at)
            raise ValueError(f"a late batch loaded at {loaded_at} is not after the newest row loaded ({newest[0]})")
        load_prices(conn)
        fill_raw(conn, first, count, loaded_at=loaded_at, salt=salt, days=(days - 3, days))
        since = dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=max(0, days - REFUND_WINDOW_DAYS))
        refund_earlier(conn, max(1, count // 10), loaded_at=loaded_at, salt=salt, since=str(since))


def refund_earlier(conn: psycopg.Connection[Any], count: int, *, loaded_at: str, salt: int, since: str) -> None:
    """Refund ``count`` earlier completed transactions with events from day ``since`` on that have no later version
    (a deterministic pick): each gets its version 2, ``refunded``, stored at ``loaded_at``, so an incremental run
    must move it out of revenue."""
    columns = [c.name for c in COLUMNS]
    changed = {
        "transaction_status": "'refunded'",
        "ingested_at": f"timestamp '{loaded_at}' - interval '1 hour'",
        "loaded_at": f"timestamp '{loaded_at}'",
        "version": "2",
        "previous_status": "'completed'",
        "status_updated_at": f"timestamp '{loaded_at}' - interval '1 hour'",
    }
    conn.execute(
        f"""
        insert into raw.mtx_transactions ({", ".join(columns)})
        select {", ".join(changed.get(c, f"r.{c}") for c in columns)}
        from raw.mtx_transactions as r
        where r.version = 1 and r.transaction_status = 'completed' and r.loaded_at < timestamp '{loaded_at}'
            and r.event_at >= timestamp '{since}'
            and not exists (
                select 1 from raw.mtx_transactions as later
                where later.transaction_id = r.transaction_id and later.version > 1
            )
        order by hashtext(r.transaction_id || '{salt}'), r.transaction_id
        limit {count}
        """
    )
    conn.execute("analyze raw.mtx_transactions")


def raw_profile(dsn: str) -> dict[str, int]:
    """What the raw table holds that the marts' logic works on: versions, late refunds, dollars, chargebacks."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            """
            select count(*), count(distinct transaction_id), count(*) filter (where version > 1),
                count(*) filter (where version > 1 and loaded_at > (
                    select min(first.loaded_at) from raw.mtx_transactions as first
                    where first.transaction_id = r.transaction_id)),
                count(*) filter (where amount_usd is not null),
                count(*) filter (where transaction_status = 'chargeback'),
                count(*) filter (where country is null and amount_usd is not null)
            from raw.mtx_transactions as r
            """
        ).fetchone()
    assert row is not None
    keys = ("rows", "transactions", "later_versions", "later_versions_in_a_later_load", "rows_with_usd",
            "chargeback_rows", "enriched_rows_not_located")  # fmt: skip
    return dict(zip(keys, row, strict=True))
