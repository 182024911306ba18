-- The classic retention triangle: one row per first-purchase cohort, one
-- column per month since the first purchase (repeat-purchase rate, 0-1).
select
    cohort_month,
    max(cohort_size) as cohort_size,
    {%- for month_number in range(0, 7) %}
    max(case when months_since_first_purchase = {{ month_number }} then repeat_purchase_rate end)
        as month_{{ month_number }}_repeat_rate,
    {%- endfor %}
    max(cumulative_revenue_usd) / max(cohort_size) as revenue_per_player_to_date_usd
from {{ ref('fct_player_cohorts') }}
group by cohort_month
order by cohort_month
