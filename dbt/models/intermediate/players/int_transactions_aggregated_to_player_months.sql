{{
    config(
        unique_key=['player_id', 'activity_month'],
        dist='player_id',
        sort=['player_id', 'activity_month'],
        post_hook="{{ refresh_planner_statistics() }}",
        indexes=[{'columns': ['last_loaded_at']}],
    )
}}
-- One row per player and calendar month with a transaction: the partial sums
-- dim_players and fct_player_cohorts are built from. Incremental (a table, not a
-- view: measured, see docs/dbt-performance.md): the (player, month) pairs that
-- received newly loaded versions are recomputed from the current version of all
-- of that pair's transactions, so a transaction whose status changed counts once.
-- depends_on: {{ ref('int_transactions_converted_to_usd') }}
{% if is_incremental() %}
{%- set watermark = incremental_watermark('last_loaded_at') -%}
{%- set changed_months = changed_dates(
    ref('int_transactions_converted_to_usd'), 'event_month', 'loaded_at', watermark
) -%}
{% endif %}
with

{% if is_incremental() %}
changed_player_months as (

    select distinct
        player_id,
        event_month
    from {{ ref('int_transactions_converted_to_usd') }}
    where loaded_at > {{ watermark }}

),
{% endif %}

transactions as (

    select
        transactions_usd.player_id,
        transactions_usd.event_month,
        transactions_usd.is_completed,
        transactions_usd.is_reversed,
        transactions_usd.amount_usd,
        transactions_usd.event_at,
        transactions_usd.loaded_at
    from {{ ref('int_transactions_filtered_to_current_version') }} as transactions_usd
    {% if is_incremental() %}
    -- a semi-join: the engine hashes the few changed pairs and streams the
    -- month past them (an inner join let PostgreSQL hash the month instead)
    where
        exists (
            select 1
            from changed_player_months
            where
                changed_player_months.player_id = transactions_usd.player_id
                and changed_player_months.event_month = transactions_usd.event_month
        )
        and {{ in_list('transactions_usd.event_month', changed_months) }}
    {% if changed_months %}
        -- the same months as a range on event_date
        and transactions_usd.event_date >= {{ changed_months | first }}
    {% endif %}
    {% endif %}

),

player_months as (

    select
        player_id,
        event_month as activity_month,
        count(*) as transaction_count,
        sum(case when is_completed then 1 else 0 end) as purchase_count,
        sum(case when is_reversed then 1 else 0 end) as refund_count,
        sum(case when is_completed then amount_usd end) as revenue_usd,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        min(case when is_completed then event_at end) as first_purchase_at,
        max(case when is_completed then event_at end) as last_purchase_at,
        max(loaded_at) as last_loaded_at
    from transactions
    group by player_id, event_month

),

final as (

    select
        player_id,
        activity_month,
        cast(transaction_count as bigint) as transaction_count,
        cast(purchase_count as bigint) as purchase_count,
        cast(refund_count as bigint) as refund_count,
        cast(revenue_usd as numeric(20, 4)) as revenue_usd,
        first_seen_at,
        last_seen_at,
        first_purchase_at,
        last_purchase_at,
        last_loaded_at
    from player_months

)

select * from final
