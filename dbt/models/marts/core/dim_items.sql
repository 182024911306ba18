{{
    config(
        unique_key='item_id',
        dist='all',
        sort=['item_id'],
        indexes=[{'columns': ['item_id'], 'unique': true}],
    )
}}
-- One row per shop item sold at least once, with its latest name, type and
-- game (from its most recent transaction). First/last sale times and the
-- latest attributes only move forward, so an incremental run folds the newly
-- loaded transactions into the existing rows instead of rescanning history.
{% if is_incremental() %}
{%- set new_rows = 'where loaded_at > ' ~ incremental_watermark('last_loaded_at') -%}
{% else %}
    {%- set new_rows = '' -%}
{% endif %}
with

item_activity as (

    select
        item_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        max(loaded_at) as last_loaded_at
    from {{ ref('fct_transactions') }}
    {{ new_rows }}
    group by item_id

),

transactions as (

    select
        transaction_id,
        item_id,
        item_name,
        item_type,
        game,
        event_at
    from {{ ref('fct_transactions') }}
    {{ new_rows }}

),

-- The item's transactions at its latest event time (joining back on the
-- maximum is cheaper than numbering every transaction); ties are broken by
-- transaction_id.
latest_transactions as (

    select
        transactions.item_id,
        transactions.item_name,
        transactions.item_type,
        transactions.game,
        row_number() over (
            partition by transactions.item_id
            order by transactions.transaction_id desc
        ) as recency_rank
    from transactions
    inner join item_activity
        on transactions.item_id = item_activity.item_id
        and transactions.event_at = item_activity.last_seen_at

),

new_items as (

    select
        item_activity.item_id,
        latest_transactions.item_name,
        latest_transactions.item_type,
        latest_transactions.game,
        item_activity.first_seen_at,
        item_activity.last_seen_at,
        item_activity.last_loaded_at
    from item_activity
    inner join latest_transactions
        on item_activity.item_id = latest_transactions.item_id
        and latest_transactions.recency_rank = 1

),

{% if is_incremental() %}
merged as (

    select
        new_items.item_id,
        case
            when current_items.item_id is null or new_items.last_seen_at >= current_items.last_seen_at
                then new_items.item_name
            else current_items.item_name
        end as item_name,
        case
            when current_items.item_id is null or new_items.last_seen_at >= current_items.last_seen_at
                then new_items.item_type
            else current_items.item_type
        end as item_type,
        case
            when current_items.item_id is null or new_items.last_seen_at >= current_items.last_seen_at
                then new_items.game
            else current_items.game
        end as game,
        case
            when current_items.first_seen_at < new_items.first_seen_at
                then current_items.first_seen_at
            else new_items.first_seen_at
        end as first_seen_at,
        case
            when current_items.last_seen_at > new_items.last_seen_at
                then current_items.last_seen_at
            else new_items.last_seen_at
        end as last_seen_at,
        new_items.last_loaded_at
    from new_items
    left join {{ this }} as current_items
        on new_items.item_id = current_items.item_id

),
{% else %}
merged as (

    select * from new_items

),
{% endif %}

final as (

    select
        item_id,
        item_name,
        item_type,
        game,
        first_seen_at,
        last_seen_at,
        last_loaded_at
    from merged

)

select * from final
