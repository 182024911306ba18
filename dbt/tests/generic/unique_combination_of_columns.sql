{#- Fails on every combination of the given columns that occurs more than once
    (the grain of an aggregated mart). No dbt hub here, so no dbt_utils. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{%- set columns_csv = combination_of_columns | join(', ') %}

select {{ columns_csv }}, count(*) as row_count
from {{ model }}
group by {{ columns_csv }}
having count(*) > 1

{% endtest %}
