-- One row per currency and calendar day from the currency's first to its last
-- rate_date: the rate in force that day is the latest rate on or before it, so
-- the conversion joins on equality. Days after a currency's last rate are
-- covered by the `is_latest_rate` row. The day spine is built from digits (no
-- generate_series on Redshift) and covers gaps of up to 999 days (a test checks).
with

exchange_rates as (

    select
        rate_date,
        currency,
        usd_per_unit
    from {{ ref('exchange_rates') }}

),

rate_periods as (

    select
        currency,
        rate_date,
        usd_per_unit,
        lead(rate_date) over (partition by currency order by rate_date) as next_rate_date
    from exchange_rates

),

rate_spans as (

    -- days each rate is in force before the next one (1: the latest rate's own day)
    select
        currency,
        rate_date,
        usd_per_unit,
        next_rate_date,
        coalesce({{ days_between('rate_date', 'next_rate_date') }}, 1) as days_in_force
    from rate_periods

),

digits as (

    select 0 as digit
    {%- for digit in range(1, 10) %}
    union all
    select {{ digit }}
    {%- endfor %}

),

day_offsets as (

    select ones.digit + 10 * tens.digit + 100 * hundreds.digit as day_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds

),

rate_days as (

    select
        rate_spans.currency,
        cast({{ dbt.dateadd('day', 'day_offsets.day_offset', 'rate_spans.rate_date') }} as date) as rate_valid_date,
        rate_spans.rate_date,
        rate_spans.usd_per_unit,
        rate_spans.next_rate_date is null as is_latest_rate
    from rate_spans
    -- an integer comparison per (rate, offset) pair; the date is computed only
    -- for the pairs kept
    inner join day_offsets
        on rate_spans.days_in_force > day_offsets.day_offset

),

final as (

    select
        cast(currency as varchar(3)) as currency,
        rate_valid_date,
        rate_date,
        cast(usd_per_unit as numeric(18, 8)) as usd_per_unit,
        is_latest_rate
    from rate_days

)

select * from final
