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
-- in US dollars, and the Enrich stage's country, region, item category, first
-- purchase and stamps (int_transactions_converted_to_usd). Incremental: rows loaded
-- after the newest loaded_at here replace rows with the same transaction_id
-- (delete+insert; re-running is harmless). Index choices: docs/dbt-performance.md.
with

transactions as (

    select * from {{ ref('int_transactions_converted_to_usd') }}
    {% if is_incremental() %}
    where loaded_at > {{ incremental_watermark('loaded_at') }}
    {% endif %}

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
        amount_usd,
        usd_exchange_rate,
        exchange_rate_date,
        has_exchange_rate,
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
        event_month,
        ingested_at,
        source_partition_date,
        loaded_at
    from transactions

)

select * from final
