{#-
  The revenue totals of a group of fct_transactions rows, one place for every
  revenue mart (fct_daily_revenue, fct_hourly_revenue): transactions, purchases
  (completed, refunded or charged back) and gross, refunded and net USD, summed
  from fct_transactions' per-transaction worth (macros/lifecycle_revenue.sql).
  Reads is_purchase, gross_usd, refunded_usd and net_usd; the mart's final CTE
  gives the columns their types.
  Usage: select game, {{ revenue_totals() }} from transactions group by game
-#}
{% macro revenue_totals() -%}
    count(*) as transaction_count,
        sum(case when is_purchase then 1 else 0 end) as purchase_count,
        sum(gross_usd) as gross_usd,
        sum(refunded_usd) as refunded_usd,
        sum(net_usd) as net_usd
{%- endmacro %}
