{#-
  post-hook: refresh PostgreSQL's planner statistics of a table that later
  models of the same run read, with a small sample (group and join estimates
  need no more; a million-row table analyzes in a fraction of a second).

  A table just (re)built has none until autovacuum gets there; the planner
  then picks sort-based plans that spill to disk (3-5x slower). So a table
  never analyzed is analyzed; an incremental run does not re-analyze.
  An incremental model's newest rows lie past the histogram of its watermark
  column, and "rows loaded since X" would be estimated at one (a nested loop
  over the whole table follows): the tables later models read that way
  (fct_transactions, the player-month table) have a B-tree on the column,
  from which the planner reads the actual newest value instead.
  Redshift analyzes new data itself (automatic analyze): nothing is emitted
  there.
-#}
{% macro refresh_planner_statistics(relation=none) -%}
    {%- set relation = relation if relation is not none else this -%}
    {%- if execute and target.type == 'postgres' -%}
        {%- set needed = run_query(
            "select count(*) from pg_stat_user_tables"
            ~ " where schemaname = '" ~ relation.schema ~ "'"
            ~ " and relname = '" ~ relation.identifier ~ "'"
            ~ " and last_analyze is null and last_autoanalyze is null"
        ).columns[0].values()[0] > 0 -%}
        {%- if needed -%}
            set local default_statistics_target = 20;
            analyze {{ relation }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
