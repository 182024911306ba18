{{
    config(
        unique_key='sales_month',
        sort=['sales_month', 'revenue_rank_overall'],
        indexes=[{'columns': ['sales_month']}],
    )
}}
-- One row per item and calendar month with units sold, buyers, revenue and the
-- item's revenue rank that month, overall and within its game. Ranks compare
-- items inside a month, so an incremental run recomputes whole months: those
-- that received newly loaded transactions (delete+insert by sales_month).
-- Name, type and game come from dim_items (the item's latest attributes).
{% if is_incremental() %}
    {%- set changed_months = changed_dates(
        ref('fct_transactions'), 'event_month', 'loaded_at', incremental_watermark('last_loaded_at')
    ) -%}
{% endif %}
with

transactions as (

    select
        event_month,
        item_id,
        player_id,
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

items as (

    select
        item_id,
        item_name,
        item_type,
        game
    from {{ ref('dim_items') }}

),

item_months as (

    select
        event_month as sales_month,
        item_id,
        sum(case when is_completed then 1 else 0 end) as units_sold,
        count(distinct case when is_completed then {{ bytewise("player_id") }} end) as buyer_count,
        sum(case when is_completed then amount_usd end) as revenue_usd,
        sum(case when is_reversed then 1 else 0 end) as refund_count,
        max(loaded_at) as last_loaded_at
    from transactions
    group by event_month, item_id

),

ranked as (

    select
        item_months.sales_month,
        item_months.item_id,
        items.item_name,
        items.item_type,
        items.game,
        item_months.units_sold,
        item_months.buyer_count,
        coalesce(item_months.revenue_usd, 0) as revenue_usd,
        item_months.refund_count,
        rank() over (
            partition by item_months.sales_month
            order by coalesce(item_months.revenue_usd, 0) desc
        ) as revenue_rank_overall,
        rank() over (
            partition by item_months.sales_month, items.game
            order by coalesce(item_months.revenue_usd, 0) desc
        ) as revenue_rank_in_game,
        sum(coalesce(item_months.revenue_usd, 0)) over (
            partition by item_months.sales_month, items.game
        ) as game_revenue_usd,
        item_months.last_loaded_at
    from item_months
    inner join items
        on item_months.item_id = items.item_id

),

final as (

    select
        sales_month,
        item_id,
        item_name,
        item_type,
        game,
        cast(units_sold as bigint) as units_sold,
        cast(buyer_count as bigint) as buyer_count,
        cast(revenue_usd as numeric(20, 4)) as revenue_usd,
        cast(refund_count as bigint) as refund_count,
        cast(
            case
                when units_sold + refund_count > 0
                    then round(cast(refund_count as numeric(20, 6)) / (units_sold + refund_count), 6)
            end as numeric(9, 6)
        ) as refund_rate,
        cast(revenue_rank_overall as integer) as revenue_rank_overall,
        cast(revenue_rank_in_game as integer) as revenue_rank_in_game,
        cast(
            case
                when game_revenue_usd > 0
                    then round(revenue_usd / game_revenue_usd, 6)
            end as numeric(9, 6)
        ) as revenue_share_of_game,
        last_loaded_at
    from ranked

)

select * from final
