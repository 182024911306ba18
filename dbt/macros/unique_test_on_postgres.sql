{#-
  dbt's `unique` test on PostgreSQL (found before dbt's own through the
  `dispatch` setting in dbt_project.yml).

  When PostgreSQL itself enforces the uniqueness (a valid, non-partial unique
  index on exactly this column, e.g. the raw table's primary key), duplicates
  cannot exist, and scanning a million rows to look for them costs more than a
  second per build: the test then selects nothing. Otherwise, for a relation
  without such an index (a landing copy, a view, a model without a unique
  index) or a filtered test (`where:`), it runs dbt's own query. dbt's unique
  test ignores NULLs, as a unique index does.
  Redshift does not enforce keys: there dbt's own query always runs.
-#}
{% macro postgres__test_unique(model, column_name) %}
    {%- if execute and model.identifier is defined and mtx_unique_index_exists(model, column_name) %}
-- {{ column_name }} is unique by a unique index on {{ model }}: nothing to find
select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where false
group by {{ column_name }}
    {%- else %}
{{ dbt.default__test_unique(model, column_name) }}
    {%- endif %}
{% endmacro %}


{#- True when `relation` is a table with a valid unique index on `column_name` alone. -#}
{% macro mtx_unique_index_exists(relation, column_name) %}
    {%- set sql -%}
        select count(*)
        from pg_index as i
        join pg_class as c on c.oid = i.indrelid
        join pg_namespace as n on n.oid = c.relnamespace
        join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
        where n.nspname = '{{ relation.schema }}'
            and c.relname = '{{ relation.identifier }}'
            and i.indisunique and i.indisvalid and i.indnatts = 1
            and i.indpred is null and i.indexprs is null
            and a.attname = '{{ column_name | replace('"', '') }}'
    {%- endset -%}
    {{ return(run_query(sql).columns[0].values()[0] > 0) }}
{% endmacro %}


{#-
  Redshift enforces no key and has no indexes (no pg_index either): dbt's own
  query, always. Without this variant the redshift adapter would find
  `postgres__test_unique` above first (this project's macros come first in the
  dispatch search order, and dbt-redshift falls back to postgres__ macros).
-#}
{% macro redshift__test_unique(model, column_name) %}
{{ dbt.default__test_unique(model, column_name) }}
{% endmacro %}
