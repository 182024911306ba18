{#-
  on-run-end: give the analysts role USAGE on the schema that holds the marts
  (table grants come from the `grants` config). The grantee is written as for
  dbt grants: a bare name locally (a PostgreSQL role), `role:name`,
  `group:name` or `user:name` on Redshift.
  Runs only after commands that build relations, and only once the schema
  exists (a selection of staging models alone does not create it).
-#}
{% macro grant_schema_usage(grantee) %}
    {%- if execute and flags.WHICH in ['run', 'build'] and grantee
        and adapter.check_schema_exists(target.database, target.schema) -%}
        {%- if grantee.startswith('role:') -%}
            {%- set grantee_sql = 'role ' ~ grantee[5:] -%}
        {%- elif grantee.startswith('group:') -%}
            {%- set grantee_sql = 'group ' ~ grantee[6:] -%}
        {%- elif grantee.startswith('user:') -%}
            {%- set grantee_sql = grantee[5:] -%}
        {%- else -%}
            {%- set grantee_sql = grantee -%}
        {%- endif -%}
        grant usage on schema {{ adapter.quote(target.schema) }} to {{ grantee_sql }}
    {%- endif -%}
{% endmacro %}
