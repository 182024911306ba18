{#-
  dbt's `persist_docs` on PostgreSQL (found before dbt's own through the
  `dispatch` setting in dbt_project.yml): writes only the comments that differ
  from what the table already carries.

  dbt's own version comments the table and every documented column on every
  run, incremental runs included, and reads the table's columns twice to do so
  (four statements per mart and run). Here one catalog query reads the table's
  comment and its columns' comments; a comment is written when it is new or
  changed, so a run after an edit of a description still writes it, and a run
  with nothing edited writes nothing. An empty description and no comment are
  the same thing in PostgreSQL (`comment ... is ''` removes it).
  Documented columns the table lacks are reported as dbt's version does.
-#}
{% macro postgres__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- set want_relation = for_relation and config.persist_relation_docs() and model.description -%}
    {%- set want_columns = for_columns and config.persist_column_docs() and model.columns -%}
    {%- if execute and (want_relation or want_columns) -%}
        {%- set catalog = run_query(
            "select a.attname, col_description(c.oid, a.attnum), obj_description(c.oid, 'pg_class')"
            ~ " from pg_class as c"
            ~ " join pg_namespace as n on n.oid = c.relnamespace"
            ~ " left join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
            ~ " where n.nspname = '" ~ relation.schema ~ "' and c.relname = '" ~ relation.identifier ~ "'"
        ) -%}
        {%- set existing = {} -%}
        {%- set ns = namespace(relation_comment=none) -%}
        {%- for row in catalog.rows -%}
            {%- set ns.relation_comment = row[2] -%}
            {%- if row[0] is not none -%}
                {%- do existing.update({row[0]: row[1] or ''}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set statements = [] -%}
        {%- if want_relation and (ns.relation_comment or '') != model.description -%}
            {%- do statements.append(alter_relation_comment(relation, model.description)) -%}
        {%- endif -%}
        {%- if want_columns -%}
            {%- set documented = validate_doc_columns(relation, model.columns, existing.keys() | list) -%}
            {%- for name, column in documented.items() -%}
                {%- set stored_name = name if column['quote'] else name | lower -%}
                {%- if existing.get(stored_name, '') != (column['description'] or '') -%}
                    {%- do statements.append(
                        'comment on column ' ~ relation ~ '.'
                        ~ (adapter.quote(name) if column['quote'] else name)
                        ~ ' is ' ~ postgres_escape_comment(column['description'] or '') ~ ';'
                    ) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
        {%- if statements -%}
            {%- do run_query(statements | join('\n')) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#-
  Redshift: dbt-redshift's own persist_docs (COMMENT ON for the relation and
  the documented columns it has; none on late-binding views, which Redshift
  cannot comment). This project's PostgreSQL version reads the stored comments
  from PostgreSQL's catalogue (pg_class, pg_attribute, col_description(),
  obj_description()), which Redshift's is not: without this variant the
  redshift adapter would find
  `postgres__persist_docs` above first (this project's macros come first in
  the dispatch search order, and dbt-redshift falls back to postgres__ macros).
-#}
{% macro redshift__persist_docs(relation, model, for_relation, for_columns) -%}
    {{ return(dbt.redshift__persist_docs(relation, model, for_relation, for_columns)) }}
{%- endmacro %}
