-- Monthly USD revenue per server region and game, with the change against the
-- previous month (month-over-month growth).
with

monthly as (

    select
        cast({{ dbt.date_trunc('month', 'revenue_date') }} as date) as revenue_month,
        server_region,
        game,
        sum(revenue_usd) as revenue_usd,
        sum(purchase_count) as purchase_count
    from {{ ref('fct_daily_revenue') }}
    group by revenue_month, server_region, game

),

with_previous as (

    select
        revenue_month,
        server_region,
        game,
        revenue_usd,
        purchase_count,
        lag(revenue_usd) over (partition by server_region, game order by revenue_month) as previous_month_revenue_usd
    from monthly

)

select
    revenue_month,
    server_region,
    game,
    revenue_usd,
    purchase_count,
    previous_month_revenue_usd,
    case
        when previous_month_revenue_usd > 0 then round(revenue_usd / previous_month_revenue_usd - 1, 4)
    end as month_over_month_growth
from with_previous
order by revenue_month desc, revenue_usd desc
