{{
    config(
        dist='all',
        sort=['cohort_month', 'months_since_first_purchase'],
    )
}}
-- Monthly first-purchase cohorts: players grouped by the calendar month of
-- their first completed purchase (dim_players.first_purchase_month), followed
-- month by month. One row per cohort and month with activity (sparse); the
-- measures are described in _retention__models.yml. Rebuilt whole on every
-- run (a late first purchase moves a player between cohorts), from one narrow
-- row per player and month.
with

players as (

    select
        player_id,
        first_purchase_month as cohort_month
    from {{ ref('dim_players') }}
    where first_purchase_month is not null

),

player_months as (

    select
        player_id,
        activity_month,
        purchase_count,
        revenue_usd
    from {{ ref('int_transactions_aggregated_to_player_months') }}
    where purchase_count > 0

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_size
    from players
    group by cohort_month

),

cohort_activity as (

    select
        players.cohort_month,
        player_months.activity_month,
        count(*) as active_player_count,
        sum(
            case
                when player_months.activity_month > players.cohort_month then 1
                when player_months.purchase_count > 1 then 1
                else 0
            end
        ) as repeat_purchaser_count,
        sum(player_months.purchase_count) as purchase_count,
        sum(player_months.revenue_usd) as revenue_usd
    from player_months
    inner join players
        on player_months.player_id = players.player_id
    group by players.cohort_month, player_months.activity_month

),

final as (

    select
        cohort_activity.cohort_month,
        {{ calendar_months_between('cohort_activity.cohort_month', 'cohort_activity.activity_month') }}
            as months_since_first_purchase,
        cohort_activity.activity_month,
        cast(cohort_sizes.cohort_size as bigint) as cohort_size,
        cast(cohort_activity.active_player_count as bigint) as active_player_count,
        cast(cohort_activity.repeat_purchaser_count as bigint) as repeat_purchaser_count,
        cast(
            round(cast(cohort_activity.repeat_purchaser_count as numeric(20, 6)) / cohort_sizes.cohort_size, 6)
            as numeric(9, 6)
        ) as repeat_purchase_rate,
        cast(
            round(cast(cohort_activity.active_player_count as numeric(20, 6)) / cohort_sizes.cohort_size, 6)
            as numeric(9, 6)
        ) as active_player_rate,
        cast(cohort_activity.purchase_count as bigint) as purchase_count,
        cast(coalesce(cohort_activity.revenue_usd, 0) as numeric(20, 4)) as revenue_usd,
        cast(
            sum(coalesce(cohort_activity.revenue_usd, 0)) over (
                partition by cohort_activity.cohort_month
                order by cohort_activity.activity_month
                rows between unbounded preceding and current row
            ) as numeric(20, 4)
        ) as cumulative_revenue_usd
    from cohort_activity
    inner join cohort_sizes
        on cohort_activity.cohort_month = cohort_sizes.cohort_month

)

select * from final
