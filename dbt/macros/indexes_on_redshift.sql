{#-
  `indexes` configs are for PostgreSQL (the local warehouse); Redshift has no
  indexes (DISTKEY/SORTKEY, the `dist` and `sort` configs, play their part).

  dbt-redshift dispatches `get_create_index_sql` to its parent adapter's
  `postgres__get_create_index_sql`, which calls `adapter.parse_index`, a method
  the Redshift adapter does not have: every table or incremental model with an
  `indexes` config would fail its build on Redshift ("no attribute
  'parse_index'"), found by the offline capture (scripts/redshift_capture.py).
  Here: no index statement on Redshift.
-#}
{% macro redshift__get_create_index_sql(relation, index_dict) -%}
    {{ return(none) }}
{%- endmacro %}
