-- One row per stored version of a transaction (the raw table's grain:
-- transaction_id, version): renamed to the mart vocabulary, typed, no logic
-- beyond flags. A view: its readers pick the versions they need.
with

source as (

    select * from {{ source('mtx', 'mtx_transactions') }}

),

renamed as (

    select
        transaction_id,
        user_id as player_id,
        game,
        item_id,
        item_name,
        item_type,
        price_amount as amount,
        cast(price_currency as varchar(3)) as currency,
        payment_method,
        payment_gateway,
        transaction_status,
        coalesce(transaction_status = 'completed', false) as is_completed,
        coalesce(transaction_status = 'refunded', false) as is_refunded,
        coalesce(transaction_status = 'chargeback', false) as is_chargeback,
        version,
        previous_status,
        -- rows stored before versions have no stamp: their only version was stored when ingested
        coalesce(status_updated_at, ingested_at) as status_updated_at,
        server_region,
        event_at,
        event_date,
        ingested_at,
        source_partition as source_partition_date,
        loaded_at,
        -- the Enrich stage's fields (lambdas/common/enrich): converted, located and
        -- stamped before the IP was stripped; null on rows stored before it
        amount_usd,
        usd_per_unit as usd_exchange_rate,
        fx_rate_date as exchange_rate_date,
        cast(country as varchar(2)) as country_code,
        region as player_region,
        item_category,
        list_price_usd,
        contract_version,
        application_id,
        is_first_purchase

    from source

)

select * from renamed
