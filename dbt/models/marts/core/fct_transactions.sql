{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='transaction_id',
        on_schema_change='fail',
        dist='player_id',
        sort=['event_date'],
        pre_hook=[{
            "sql": "{{ ensure_loaded_at_brin_index(source('mtx', 'mtx_transactions')) }}",
            "transaction": false,
        }],
        post_hook="{{ refresh_planner_statistics() }}",
        indexes=[
            {'columns': ['transaction_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['event_date']},
        ],
    )
}}
-- One row per stored transaction, with its amount in the original currency and
-- in US dollars at the latest rate dated on or before the purchase date.
-- Incremental: rows loaded after the newest loaded_at already here are
-- (re)processed and replace rows with the same transaction_id (delete+insert:
-- the same two statements on PostgreSQL and Redshift; re-running is harmless).
-- PostgreSQL indexes: loaded_at (every incremental run reads this table's
-- watermark, max(loaded_at), and every incremental model finds the new rows
-- through it) and event_date (the days and months they recompute). loaded_at
-- is a B-tree: it answers max() from one index page, where a BRIN index (built
-- ~0.2 s faster per million rows) leaves a scan of the whole table on every
-- run; and the planner reads the newest loaded_at from it, so "rows loaded
-- since X" is estimated right without re-analyzing the table after each run
-- (statistics are refreshed after a full build only). The raw table gets a
-- BRIN index (pre-hook, PostgreSQL only): there only the rows newer than the
-- watermark are read, which are its last pages.
-- transaction_id has a unique index: PostgreSQL enforces the key, the
-- incremental delete finds the replaced rows through it instead of scanning
-- the table, and the `unique` test is answered by the index (see
-- macros/unique_test_on_postgres.sql); on Redshift the test scans.
with

transactions as (

    select * from {{ ref('stg_mtx__transactions') }}
    {% if is_incremental() %}
    where loaded_at > {{ incremental_watermark('loaded_at') }}
    {% endif %}

),

daily_rates as (

    select
        currency,
        rate_valid_date,
        rate_date,
        usd_per_unit
    from {{ ref('int_exchange_rates_filled_to_days') }}

),

latest_rates as (

    select
        currency,
        rate_date,
        usd_per_unit
    from {{ ref('int_exchange_rates_filled_to_days') }}
    where is_latest_rate

),

converted as (

    select
        transactions.*,
        coalesce(daily_rates.rate_date, latest_rates.rate_date) as exchange_rate_date,
        coalesce(daily_rates.usd_per_unit, latest_rates.usd_per_unit) as usd_per_unit
    from transactions
    left join daily_rates
        on transactions.currency = daily_rates.currency
        and transactions.event_date = daily_rates.rate_valid_date
    left join latest_rates
        on transactions.currency = latest_rates.currency
        and transactions.event_date > latest_rates.rate_date

),

final as (

    select
        transaction_id,
        player_id,
        game,
        item_id,
        item_name,
        item_type,
        amount,
        currency,
        cast(round(amount * usd_per_unit, 4) as numeric(18, 4)) as amount_usd,
        usd_per_unit as usd_exchange_rate,
        exchange_rate_date,
        case when usd_per_unit is not null then true else false end as has_exchange_rate,
        payment_method,
        payment_gateway,
        transaction_status,
        is_completed,
        is_refunded,
        server_region,
        event_at,
        event_date,
        cast({{ dbt.date_trunc('month', 'event_at') }} as date) as event_month,
        ingested_at,
        source_partition_date,
        loaded_at
    from converted

)

select * from final
