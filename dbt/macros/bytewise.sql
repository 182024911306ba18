{#-
  `expression` (text) compared byte by byte, for count(distinct ...) over ids.

  PostgreSQL sorts text in the database's collation; any collation other than
  "C" compares through strcoll() and without abbreviated keys, and a
  count(distinct) sorts every group's values. Equality is the same in every
  deterministic collation, so counting distinct ids under "C" gives the same
  number, faster: on a million transactions, 10-15% of the daily revenue
  build and ~20% of the item-performance month recompute (measured locally).
  Redshift compares bytes already (and has no postfix COLLATE): the expression
  is left as it is there. Only for counting and equality, never for an
  ORDER BY an analyst sees.
-#}
{% macro bytewise(expression) -%}
    {{ return(adapter.dispatch('bytewise', 'mtx')(expression)) }}
{%- endmacro %}

{% macro default__bytewise(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro postgres__bytewise(expression) -%}
    ({{ expression }}) collate "C"
{%- endmacro %}
