{#-
  The watermark of an incremental model, as a SQL timestamp literal: the newest
  `column` value the model already holds (default: in {{ this }}), minus the
  `mtx_incremental_lookback_hours` var; 1900-01-01 when the table is empty.

  It is read with a query before the model's SQL is built, so the planner sees
  a constant: `loaded_at > (select max(...) ...)` hides the value and
  PostgreSQL then plans for a third of the table (full sorts, JIT) where an
  index range scan over the new rows is right.
  Usage: where loaded_at > {{ incremental_watermark('loaded_at') }}
-#}
{% macro incremental_watermark(column, relation=none) -%}
    {%- set relation = relation if relation is not none else this -%}
    {%- set newest = none -%}
    {%- if execute -%}
        {%- set result = run_query('select max(' ~ column ~ ') from ' ~ relation) -%}
        {%- set newest = result.columns[0].values()[0] -%}
    {%- endif -%}
    {%- if newest is none -%}
        {{- return("cast('1900-01-01 00:00:00' as timestamp)") -}}
    {%- endif -%}
    {%- set lookback_hours = var('mtx_incremental_lookback_hours', 0) | int -%}
    {%- set newest = newest - modules.datetime.timedelta(hours=lookback_hours) -%}
    {{- return("cast('" ~ newest.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as timestamp)") -}}
{%- endmacro %}


{#-
  The distinct values of `column` in `relation` among rows whose
  `watermark_column` is after `watermark` (a SQL literal), as date literals
  ready for an IN list: the days or months an incremental model recomputes.
-#}
{% macro changed_dates(relation, column, watermark_column, watermark) -%}
    {%- set values = [] -%}
    {%- if execute -%}
        {%- set result = run_query(
            'select distinct ' ~ column ~ ' from ' ~ relation
            ~ ' where ' ~ watermark_column ~ ' > ' ~ watermark
            ~ ' order by 1'
        ) -%}
        {%- for value in result.columns[0].values() if value is not none -%}
            {%- do values.append("cast('" ~ value.strftime('%Y-%m-%d') ~ "' as date)") -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(values) -}}
{%- endmacro %}


{#- `column in (v1, v2, ...)`, or a false condition for an empty list. -#}
{% macro in_list(column, values) -%}
    {%- if values | length > 0 -%}
        {{ column }} in ({{ values | join(', ') }})
    {%- else -%}
        1 = 0
    {%- endif -%}
{%- endmacro %}
