{#-
    Fails on every row where the SQL expression is not true (false or null).
    At column level the expression is written in full; column_name is accepted and unused.
-#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce({{ expression }}, false)

{% endtest %}
