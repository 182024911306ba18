{#-
  What one transaction in `status` is worth to revenue, as contracts/lifecycle.py
  `revenue()` declares it (a test compares the two): a purchase counts once it
  completed; a refund or a chargeback keeps it in gross and takes it out of net;
  pending and failed count nothing; an unknown USD amount counts the purchase
  with no money. `measure`: purchases, gross, refunded or net. A null status (no
  previous version) is worth nothing, so
  lifecycle_revenue(status) - lifecycle_revenue(previous_status) is `revenue_delta()`.
  Usage: {{ lifecycle_revenue('net', 'transaction_status', 'amount_usd') }}
-#}
{% macro lifecycle_revenue(measure, status, amount_usd) -%}
    {%- set statuses = {
        'purchases': ['completed', 'refunded', 'chargeback'],
        'gross': ['completed', 'refunded', 'chargeback'],
        'refunded': ['refunded', 'chargeback'],
        'net': ['completed'],
    } -%}
    {%- if measure not in statuses -%}
        {{ exceptions.raise_compiler_error("lifecycle_revenue: measure is one of " ~ (statuses.keys() | list)) }}
    {%- endif -%}
    {%- set listed = "'" ~ (statuses[measure] | join("', '")) ~ "'" -%}
    {%- if measure == 'purchases' -%}
        case when {{ status }} in ({{ listed }}) then 1 else 0 end
    {%- else -%}
        case when {{ status }} in ({{ listed }}) then coalesce({{ amount_usd }}, 0) else 0 end
    {%- endif -%}
{%- endmacro %}
