{#-
  Whole calendar months from `start_date` to `end_date` (2025-01-31 -> 2025-02-01
  is 1). Written with extract() so it compiles to the same SQL on PostgreSQL and
  Redshift (dbt.datediff compiles to `::date` casts on PostgreSQL).
-#}
{% macro calendar_months_between(start_date, end_date) -%}
    cast(
        (extract(year from {{ end_date }}) - extract(year from {{ start_date }})) * 12
        + (extract(month from {{ end_date }}) - extract(month from {{ start_date }}))
        as integer
    )
{%- endmacro %}
