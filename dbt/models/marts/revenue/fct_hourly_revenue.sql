{{
    config(
        unique_key='revenue_date',
        sort=['revenue_hour', 'game'],
        indexes=[{'columns': ['revenue_date']}, {'columns': ['game', 'revenue_hour']}],
    )
}}
-- Revenue by game and UTC hour of the purchase (event_at): purchases, gross,
-- refunded and net USD of the transactions' current status, as
-- contracts/lifecycle.py revenue() counts them: the grain and the numbers of the
-- real-time DynamoDB aggregates (pk game#<game>, sk hour#<hour>), which the
-- reconciliation compares with it. Incremental like fct_daily_revenue: every day
-- that received newly loaded transactions is recomputed whole (by revenue_date).
{% if is_incremental() %}
    {%- set changed_days = changed_dates(
        ref('fct_transactions'), 'event_date', 'loaded_at', incremental_watermark('last_loaded_at')
    ) -%}
{% endif %}
with

transactions as (

    select
        event_date,
        event_at,
        game,
        is_purchase,
        gross_usd,
        refunded_usd,
        net_usd,
        loaded_at
    from {{ ref('fct_transactions') }}
    {% if is_incremental() %}
    where {{ in_list('event_date', changed_days) }}
    {% endif %}

),

hourly as (

    select
        game,
        {{ dbt.date_trunc('hour', 'event_at') }} as revenue_hour,
        event_date as revenue_date,
        {{ revenue_totals() }},
        max(loaded_at) as last_loaded_at
    from transactions
    group by game, {{ dbt.date_trunc('hour', 'event_at') }}, event_date

),

final as (

    select
        game,
        cast(revenue_hour as timestamp) as revenue_hour,
        revenue_date,
        cast(transaction_count as bigint) as transaction_count,
        cast(purchase_count as bigint) as purchase_count,
        cast(gross_usd as numeric(20, 4)) as gross_usd,
        cast(refunded_usd as numeric(20, 4)) as refunded_usd,
        cast(net_usd as numeric(20, 4)) as net_usd,
        last_loaded_at
    from hourly

)

select * from final
