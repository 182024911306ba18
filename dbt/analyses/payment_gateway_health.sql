-- Payment success rate per gateway over the last six months next to its
-- average, to spot a gateway going wrong; plus each method's share of the
-- latest month's transactions.
with

first_month as (

    select cast({{ dbt.dateadd('month', -5, 'max(payment_month)') }} as date) as payment_month
    from {{ ref('fct_payment_mix') }}

),

by_gateway as (

    select
        payment_month,
        payment_gateway,
        sum(purchase_count + refund_count) as succeeded_count,
        sum(purchase_count + refund_count + failed_count) as decided_count,
        sum(revenue_usd) as revenue_usd
    from {{ ref('fct_payment_mix') }}
    where payment_month >= (select first_month.payment_month from first_month)
    group by payment_month, payment_gateway

),

rated as (

    select
        *,
        case
            when decided_count > 0 then round(cast(succeeded_count as numeric(20, 6)) / decided_count, 4)
        end as payment_success_rate
    from by_gateway

)

select
    payment_month,
    payment_gateway,
    decided_count,
    payment_success_rate,
    round(avg(payment_success_rate) over (partition by payment_gateway), 4) as six_month_average_rate,
    revenue_usd
from rated
order by payment_gateway, payment_month
