{#-
  pre-hook (outside the model's transaction) of the model that reads new raw
  rows by `loaded_at`: on PostgreSQL, give `relation` (the raw source table) a
  BRIN index on loaded_at when it has no index on that column yet, and keep
  that BRIN index summarized.

  Loads append rows, so the newest loaded_at values sit in the last pages of
  the table: a BRIN index (a few kB, built in one pass, cheap to maintain)
  lets "loaded_at > watermark" read those pages instead of the whole table.
  Pages appended after the index was built are not summarized until a VACUUM
  (or a summarize call) reaches them, and an unsummarized range always matches:
  after a reload of the table (truncate, then a bulk insert) every range is
  unsummarized and the model reads the whole table on every run until
  autovacuum gets there. So on every run the hook summarizes the ranges added
  since the last one (`brin_summarize_new_values`: it reads only those pages).
  Created and summarized only by the table's owner (the role that loads it
  locally); any other role leaves the table alone and the model falls back to
  a scan. Redshift has no indexes (its raw table is sorted by the loader):
  nothing is emitted there.
-#}
{% macro ensure_loaded_at_brin_index(relation, column='loaded_at') -%}
    {%- if execute and target.type == 'postgres' -%}
        {#- one row when the current role may maintain the table: (any index on
            the column?, the name of a BRIN index on it, if any) -#}
        {%- set found = run_query(
            "select"
            ~ " exists (select 1 from pg_index as i"
            ~ "   join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]"
            ~ "   where i.indrelid = c.oid and a.attname = '" ~ column ~ "'),"
            ~ " (select quote_ident(n.nspname) || '.' || quote_ident(ic.relname)"
            ~ "   from pg_index as i"
            ~ "   join pg_class as ic on ic.oid = i.indexrelid"
            ~ "   join pg_am as am on am.oid = ic.relam and am.amname = 'brin'"
            ~ "   join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]"
            ~ "   where i.indrelid = c.oid and i.indisvalid and a.attname = '" ~ column ~ "'"
            ~ "   order by ic.relname limit 1)"
            ~ " from pg_class as c"
            ~ " join pg_namespace as n on n.oid = c.relnamespace"
            ~ " where n.nspname = '" ~ relation.schema ~ "'"
            ~ " and c.relname = '" ~ relation.identifier ~ "'"
            ~ " and c.relkind = 'r'"
            ~ " and pg_has_role(current_user, c.relowner, 'USAGE')"
        ) -%}
        {%- if found.rows | length > 0 -%}
            {%- set has_index, brin_index = found.rows[0][0], found.rows[0][1] -%}
            {%- if not has_index -%}
                create index if not exists {{ relation.identifier ~ '_' ~ column ~ '_brin' }}
                    on {{ relation }} using brin ({{ column }})
            {%- elif brin_index is not none -%}
                select brin_summarize_new_values('{{ brin_index }}'::regclass)
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
