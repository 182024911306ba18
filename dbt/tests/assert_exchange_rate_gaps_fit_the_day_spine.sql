-- int_exchange_rates_filled_to_days spreads a rate over at most 1000 days (a
-- three-digit spine). Two consecutive rates of a currency further apart than
-- that would leave days without a rate: fail instead.
with

rate_periods as (

    select
        currency,
        rate_date,
        lead(rate_date) over (partition by currency order by rate_date) as next_rate_date
    from {{ ref('exchange_rates') }}

)

select
    currency,
    rate_date,
    next_rate_date
from rate_periods
where next_rate_date is not null
    and {{ dbt.dateadd('day', 1000, 'rate_date') }} <= next_rate_date
