{#- Fails on every row where the boolean SQL expression is not true
    (e.g. `purchase_count <= transaction_count`). -#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
