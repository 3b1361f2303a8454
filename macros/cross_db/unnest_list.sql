{#-
    A lateral join that turns each element of a list column into a row, for use after a
    comma in a from clause: `from movies, {{ unnest_list('movies.genre_list', 'g') }}`.
    The element is then read as `cast(g.value as varchar)` on both targets.
-#}
{% macro unnest_list(column, alias) -%}
    {{ return(adapter.dispatch('unnest_list')(column, alias)) }}
{%- endmacro %}

{% macro duckdb__unnest_list(column, alias) -%}
    unnest({{ column }}) as {{ alias }} (value)
{%- endmacro %}

{% macro snowflake__unnest_list(column, alias) -%}
    lateral flatten(input => {{ column }}) as {{ alias }}
{%- endmacro %}

{% macro default__unnest_list(column, alias) -%}
    {{ unsupported_adapter('unnest_list') }}
{%- endmacro %}
