{{
    config(
        unique_key='transaction_id',
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
-- One row per stored transaction in its current version (status, version, what
-- it is worth to gross/refunded/net revenue), with its amount in the original
-- currency and in US dollars and the Enrich stage's fields. Incremental: a current
-- version loaded after the newest loaded_at here replaces the transaction's row
-- (delete+insert by transaction_id; a late older version is never current, so it
-- changes nothing). Index choices: docs/dbt-performance.md.
with

transactions as (

    select * from {{ ref('int_transactions_filtered_to_current_version') }}
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
        is_chargeback,
        is_purchase,
        is_reversed,
        gross_usd,
        refunded_usd,
        net_usd,
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
        event_month,
        ingested_at,
        source_partition_date,
        loaded_at
    from transactions

)

select * from final
