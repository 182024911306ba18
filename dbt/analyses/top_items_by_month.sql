-- Top 10 items of each of the last three months by USD revenue, with their
-- rank inside their game and the share of their game's revenue.
-- Compile with `dbt compile --select top_items_by_month`, run the SQL from
-- target/compiled/ in any SQL client (or `dbt show --select ...`).
with

last_months as (

    select distinct sales_month
    from {{ ref('fct_item_performance') }}
    order by sales_month desc
    limit 3

)

select
    performance.sales_month,
    performance.revenue_rank_overall,
    performance.game,
    performance.item_name,
    performance.item_type,
    performance.units_sold,
    performance.buyer_count,
    performance.revenue_usd,
    performance.revenue_rank_in_game,
    performance.revenue_share_of_game,
    performance.refund_rate
from {{ ref('fct_item_performance') }} as performance
inner join last_months
    on performance.sales_month = last_months.sales_month
where performance.revenue_rank_overall <= 10
order by performance.sales_month desc, performance.revenue_rank_overall asc
