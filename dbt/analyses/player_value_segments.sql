-- Players by lifetime value band: how many, how much revenue, how many repeat
-- purchasers. The "whales" (top band) usually carry a large share of revenue.
with

segmented as (

    select
        player_id,
        lifetime_value_usd,
        purchase_count,
        is_repeat_purchaser,
        case
            when purchase_count = 0 then '0: never purchased'
            when lifetime_value_usd < 10 then '1: under 10 USD'
            when lifetime_value_usd < 50 then '2: 10-50 USD'
            when lifetime_value_usd < 200 then '3: 50-200 USD'
            else '4: 200 USD and more'
        end as value_band
    from {{ ref('dim_players') }}

)

select
    value_band,
    count(*) as player_count,
    sum(case when is_repeat_purchaser then 1 else 0 end) as repeat_purchaser_count,
    sum(lifetime_value_usd) as revenue_usd,
    round(sum(lifetime_value_usd) / sum(sum(lifetime_value_usd)) over (), 4) as share_of_revenue,
    round(avg(purchase_count), 2) as average_purchase_count
from segmented
group by value_band
order by value_band
