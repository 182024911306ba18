{{
    config(
        unique_key='revenue_date',
        sort=['revenue_date'],
        indexes=[{'columns': ['revenue_date']}],
    )
}}
-- Revenue by day, game, server region and item type: gross, refunded and net
-- USD as contracts/lifecycle.py revenue() counts them (fct_transactions' current
-- status). Incremental: every day that received newly loaded transactions is
-- recomputed whole (delete+insert by revenue_date), so a status update moves its
-- transaction's worth and counts of distinct players stay exact.
{% if is_incremental() %}
    {%- set changed_days = changed_dates(
        ref('fct_transactions'), 'event_date', 'loaded_at', incremental_watermark('last_loaded_at')
    ) -%}
{% endif %}
with

transactions as (

    select
        event_date,
        game,
        server_region,
        item_type,
        player_id,
        transaction_status,
        is_completed,
        is_refunded,
        is_chargeback,
        is_purchase,
        has_exchange_rate,
        gross_usd,
        refunded_usd,
        net_usd,
        loaded_at
    from {{ ref('fct_transactions') }}
    {% if is_incremental() %}
    where {{ in_list('event_date', changed_days) }}
    {% endif %}

),

daily as (

    select
        event_date as revenue_date,
        game,
        server_region,
        item_type,
        {{ revenue_totals() }},
        sum(case when is_refunded then 1 else 0 end) as refund_count,
        sum(case when is_chargeback then 1 else 0 end) as chargeback_count,
        sum(case when transaction_status = 'failed' then 1 else 0 end) as failed_count,
        sum(case when transaction_status = 'pending' then 1 else 0 end) as pending_count,
        count(distinct case when is_completed then {{ bytewise("player_id") }} end) as paying_player_count,
        sum(case when is_purchase and not has_exchange_rate then 1 else 0 end) as unconverted_purchase_count,
        max(loaded_at) as last_loaded_at
    from transactions
    group by event_date, game, server_region, item_type

),

final as (

    select
        revenue_date,
        game,
        server_region,
        item_type,
        cast(transaction_count as bigint) as transaction_count,
        cast(purchase_count as bigint) as purchase_count,
        cast(refund_count as bigint) as refund_count,
        cast(chargeback_count as bigint) as chargeback_count,
        cast(failed_count as bigint) as failed_count,
        cast(pending_count as bigint) as pending_count,
        cast(paying_player_count as bigint) as paying_player_count,
        cast(gross_usd as numeric(20, 4)) as gross_usd,
        cast(refunded_usd as numeric(20, 4)) as refunded_usd,
        cast(net_usd as numeric(20, 4)) as net_usd,
        cast(net_usd as numeric(20, 4)) as revenue_usd,
        cast(unconverted_purchase_count as bigint) as unconverted_purchase_count,
        last_loaded_at
    from daily

)

select * from final
