{#- Fails on every row whose value is zero or negative (nulls are not_null's job). -#}
{% test positive_value(model, column_name) %}

select {{ column_name }} as failing_value
from {{ model }}
where {{ column_name }} <= 0

{% endtest %}
