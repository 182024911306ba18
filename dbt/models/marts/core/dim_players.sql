{{
    config(
        unique_key='player_id',
        dist='player_id',
        sort=['player_id'],
        post_hook="{{ refresh_planner_statistics() }}",
        indexes=[{'columns': ['player_id'], 'unique': true}],
    )
}}
-- One row per player (game account) seen in fct_transactions, with purchase
-- history and lifetime value, summed from the player's months.
-- Incremental: players whose months changed since the last run are recomputed
-- from all their months (delete+insert by player_id).
with

{% if is_incremental() %}
changed_players as (

    select distinct player_id
    from {{ ref('int_transactions_aggregated_to_player_months') }}
    where last_loaded_at > {{ incremental_watermark('last_loaded_at') }}

),
{% endif %}

player_months as (

    select * from {{ ref('int_transactions_aggregated_to_player_months') }}
    {% if is_incremental() %}
    where player_id in (select changed_players.player_id from changed_players)
    {% endif %}

),

player_summary as (

    select
        player_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(first_purchase_at) as first_purchase_at,
        max(last_purchase_at) as last_purchase_at,
        sum(transaction_count) as transaction_count,
        sum(purchase_count) as purchase_count,
        sum(refund_count) as refund_count,
        sum(revenue_usd) as lifetime_value_usd,
        max(last_loaded_at) as last_loaded_at
    from player_months
    group by player_id

),

final as (

    select
        player_id,
        first_seen_at,
        last_seen_at,
        first_purchase_at,
        last_purchase_at,
        cast(first_purchase_at as date) as first_purchase_date,
        cast({{ dbt.date_trunc('month', 'first_purchase_at') }} as date) as first_purchase_month,
        cast(transaction_count as bigint) as transaction_count,
        cast(purchase_count as bigint) as purchase_count,
        cast(refund_count as bigint) as refund_count,
        cast(coalesce(lifetime_value_usd, 0) as numeric(20, 4)) as lifetime_value_usd,
        coalesce(purchase_count > 1, false) as is_repeat_purchaser,
        last_loaded_at
    from player_summary

)

select * from final
