{#-
  pre-hook (outside the model's transaction) of the model that reads new raw
  rows by `loaded_at`: on PostgreSQL, give `relation` (the raw source table) a
  BRIN index on loaded_at when it has no index on that column yet.

  Loads append rows, so the newest loaded_at values sit in the last pages of
  the table: a BRIN index (a few kB, built in one pass, cheap to maintain)
  lets "loaded_at > watermark" read those pages instead of the whole table.
  Created only by the table's owner (the role that loads it locally); any
  other role leaves the table alone and the model falls back to a scan.
  Redshift has no indexes (its raw table is sorted by the loader): nothing
  is emitted there.
-#}
{% macro ensure_loaded_at_brin_index(relation, column='loaded_at') -%}
    {%- if execute and target.type == 'postgres' -%}
        {%- set needed = run_query(
            "select count(*) from pg_class as c"
            ~ " join pg_namespace as n on n.oid = c.relnamespace"
            ~ " where n.nspname = '" ~ relation.schema ~ "'"
            ~ " and c.relname = '" ~ relation.identifier ~ "'"
            ~ " and c.relkind = 'r'"
            ~ " and pg_has_role(current_user, c.relowner, 'USAGE')"
            ~ " and not exists ("
            ~ "   select 1 from pg_index as i"
            ~ "   join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]"
            ~ "   where i.indrelid = c.oid and a.attname = '" ~ column ~ "')"
        ).columns[0].values()[0] > 0 -%}
        {%- if needed -%}
            create index if not exists {{ relation.identifier ~ '_' ~ column ~ '_brin' }}
                on {{ relation }} using brin ({{ column }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
