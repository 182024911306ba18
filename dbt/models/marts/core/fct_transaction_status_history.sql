{{
    config(
        unique_key=['transaction_id', 'version'],
        dist='transaction_id',
        sort=['transaction_id', 'version'],
        indexes=[
            {'columns': ['transaction_id', 'version'], 'unique': true},
            {'columns': ['loaded_at']},
        ],
    )
}}
-- One row per stored version of a transaction: its status, the status it moved
-- from, when it was stored, and what applying it added to revenue (the lifecycle's
-- revenue_delta(): this status's worth minus the previous one's, so a
-- transaction's deltas sum to its current worth in fct_transactions).
-- Incremental: versions loaded after the newest loaded_at here (delete+insert by
-- transaction_id and version; a re-loaded version replaces itself).
with

versions as (

    select * from {{ ref('int_transactions_converted_to_usd') }}
    {% if is_incremental() %}
    where loaded_at > {{ incremental_watermark('loaded_at') }}
    {% endif %}

),

final as (

    select
        transaction_id,
        version,
        transaction_status,
        previous_status,
        status_updated_at,
        player_id,
        game,
        item_id,
        event_at,
        event_date,
        amount_usd,
        cast(
            {{ lifecycle_revenue('purchases', 'transaction_status', 'amount_usd') }}
            - {{ lifecycle_revenue('purchases', 'previous_status', 'amount_usd') }}
            as integer
        ) as purchase_count_delta,
        cast(
            {{ lifecycle_revenue('gross', 'transaction_status', 'amount_usd') }}
            - {{ lifecycle_revenue('gross', 'previous_status', 'amount_usd') }}
            as numeric(18, 4)
        ) as gross_usd_delta,
        cast(
            {{ lifecycle_revenue('refunded', 'transaction_status', 'amount_usd') }}
            - {{ lifecycle_revenue('refunded', 'previous_status', 'amount_usd') }}
            as numeric(18, 4)
        ) as refunded_usd_delta,
        cast(
            {{ lifecycle_revenue('net', 'transaction_status', 'amount_usd') }}
            - {{ lifecycle_revenue('net', 'previous_status', 'amount_usd') }}
            as numeric(18, 4)
        ) as net_usd_delta,
        ingested_at,
        loaded_at
    from versions

)

select * from final
