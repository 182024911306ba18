-- One row per transaction: its current version (the highest version stored),
-- with everything int_transactions_converted_to_usd gives a version. What every
-- mart that counts transactions reads, so a status update replaces its
-- transaction instead of adding one. An anti-join, not a window: the view stays
-- plain, a reader's filter (loaded_at, month) reaches the raw table, and the
-- probe for a later version is the raw table's key (transaction_id, version).
with

versions as (

    select * from {{ ref('int_transactions_converted_to_usd') }}

),

later_versions as (

    select
        transaction_id,
        version
    from {{ ref('int_transactions_converted_to_usd') }}

),

final as (

    select versions.*
    from versions
    where
        not exists (
            select 1
            from later_versions
            where
                later_versions.transaction_id = versions.transaction_id
                and later_versions.version > versions.version
        )

)

select * from final
