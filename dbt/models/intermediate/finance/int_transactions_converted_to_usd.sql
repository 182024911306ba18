-- One row per stored version of a transaction (staging), with its amount in US
-- dollars as the Enrich stage converted it (docs/enrichment.md; passed through,
-- never re-derived: a row stored before the stage has none) and what the version's
-- status is worth to revenue (macros/lifecycle_revenue.sql). Read by the current
-- version model and the status history. A view: its readers' filters reach the
-- raw table through it.
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
        is_chargeback,
        transaction_status in ('refunded', 'chargeback') as is_reversed,
        {{ lifecycle_revenue('purchases', 'transaction_status', 'amount_usd') }} = 1 as is_purchase,
        cast({{ lifecycle_revenue('gross', 'transaction_status', 'amount_usd') }} as numeric(18, 4)) as gross_usd,
        cast({{ lifecycle_revenue('refunded', 'transaction_status', 'amount_usd') }} as numeric(18, 4)) as refunded_usd,
        cast({{ lifecycle_revenue('net', 'transaction_status', 'amount_usd') }} as numeric(18, 4)) as net_usd,
        version,
        previous_status,
        status_updated_at,
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
