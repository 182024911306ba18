-- One row per raw transaction (staging), with its amount in US dollars at the
-- latest rate dated on or before the purchase date, and its calendar month.
-- The input of fct_transactions and of the player-month aggregate. A view: its
-- readers filter it by loaded_at or by month, and the filter reaches the raw
-- table through it.
with

transactions as (

    select * from {{ ref('stg_mtx__transactions') }}

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
        usd_per_unit is not null as has_exchange_rate,
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
