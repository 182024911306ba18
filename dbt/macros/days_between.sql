{#-
  Whole days from `start_date` to `end_date` (dates), as an integer.
  dbt.datediff would do, but compiles to `::date` casts on PostgreSQL (see
  calendar_months_between); date subtraction is PostgreSQL's own form and
  datediff Redshift's, each written without PostgreSQL-only syntax.
-#}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between', 'mtx')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__days_between(start_date, end_date) -%}
    (cast({{ end_date }} as date) - cast({{ start_date }} as date))
{%- endmacro %}

{% macro redshift__days_between(start_date, end_date) -%}
    datediff(day, {{ start_date }}, {{ end_date }})
{%- endmacro %}
