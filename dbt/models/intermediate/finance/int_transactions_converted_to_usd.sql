-- One row per raw transaction (staging), with its amount in US dollars as the
-- pipeline's Enrich stage converted it (the latest rate dated on or before the
-- purchase date; docs/enrichment.md): passed through, never re-derived. A row
-- stored before the stage existed has no USD amount (has_exchange_rate false).
-- The input of fct_transactions and of the player-month aggregate. A view: its
-- readers filter it by loaded_at or by month, and the filter reaches the raw
-- table through it.
with

transactions as (

    select * from {{ ref('stg_mtx__transactions') }}

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
        cast(amount_usd as numeric(18, 4)) as amount_usd,
        cast(usd_exchange_rate as numeric(18, 8)) as usd_exchange_rate,
        exchange_rate_date,
        amount_usd is not null as has_exchange_rate,
        payment_method,
        payment_gateway,
        transaction_status,
        is_completed,
        is_refunded,
        server_region,
        country_code,
        player_region,
        item_category,
        list_price_usd,
        is_first_purchase,
        application_id,
        contract_version,
        event_at,
        event_date,
        cast({{ dbt.date_trunc('month', 'event_at') }} as date) as event_month,
        ingested_at,
        source_partition_date,
        loaded_at
    from transactions

)

select * from final
