{{
    config(
        unique_key='payment_month',
        sort=['payment_month'],
        indexes=[{'columns': ['payment_month']}],
    )
}}
-- Payment method and gateway mix per calendar month: volumes by status, the
-- payment success rate and each combination's share of the month's
-- transactions and revenue. Shares are within a month, so an incremental run
-- recomputes the months that received newly loaded transactions.
{% if is_incremental() %}
    {%- set changed_months = changed_dates(
        ref('fct_transactions'), 'event_month', 'loaded_at', incremental_watermark('last_loaded_at')
    ) -%}
{% endif %}
with

transactions as (

    select
        event_month,
        payment_method,
        payment_gateway,
        transaction_status,
        is_completed,
        is_reversed,
        amount_usd,
        loaded_at
    from {{ ref('fct_transactions') }}
    {% if is_incremental() %}
    where {{ in_list('event_month', changed_months) }}
    {% if changed_months %}
        -- the same months as a range on event_date, which is indexed
        and event_date >= {{ changed_months | first }}
    {% endif %}
    {% endif %}

),

mix as (

    select
        event_month as payment_month,
        payment_method,
        payment_gateway,
        count(*) as transaction_count,
        sum(case when is_completed then 1 else 0 end) as purchase_count,
        sum(case when is_reversed then 1 else 0 end) as refund_count,
        sum(case when transaction_status = 'failed' then 1 else 0 end) as failed_count,
        sum(case when transaction_status = 'pending' then 1 else 0 end) as pending_count,
        coalesce(sum(case when is_completed then amount_usd end), 0) as revenue_usd,
        max(loaded_at) as last_loaded_at
    from transactions
    group by event_month, payment_method, payment_gateway

),

with_month_totals as (

    select
        *,
        sum(transaction_count) over (partition by payment_month) as month_transaction_count,
        sum(revenue_usd) over (partition by payment_month) as month_revenue_usd
    from mix

),

final as (

    select
        payment_month,
        payment_method,
        payment_gateway,
        cast(transaction_count as bigint) as transaction_count,
        cast(purchase_count as bigint) as purchase_count,
        cast(refund_count as bigint) as refund_count,
        cast(failed_count as bigint) as failed_count,
        cast(pending_count as bigint) as pending_count,
        cast(
            case
                when purchase_count + refund_count + failed_count > 0
                    then round(
                            cast(purchase_count + refund_count as numeric(20, 6))
                            / (purchase_count + refund_count + failed_count),
                            6
                        )
            end as numeric(9, 6)
        ) as payment_success_rate,
        cast(revenue_usd as numeric(20, 4)) as revenue_usd,
        cast(
            round(cast(transaction_count as numeric(20, 6)) / month_transaction_count, 6) as numeric(9, 6)
        ) as transaction_share_of_month,
        cast(
            case when month_revenue_usd > 0 then round(revenue_usd / month_revenue_usd, 6) end as numeric(9, 6)
        ) as revenue_share_of_month,
        last_loaded_at
    from with_month_totals

)

select * from final
