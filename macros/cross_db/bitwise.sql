{#-
    Bitwise operations on integers, for sets of a few dozen members held as bits of one bigint
    (mart_genre_trends: the genres a user rated in a year). DuckDB writes them as operators and
    bit_or(); Snowflake documents BITAND(<expr1>, <expr2>) and the aggregate BITOR_AGG(<expr>)
    (NUMBER(38, 0), the OR of the non-NULL values of the group).
-#}
{% macro bit_and(left, right) -%}
    {{ return(adapter.dispatch('bit_and')(left, right)) }}
{%- endmacro %}

{% macro duckdb__bit_and(left, right) -%}
    ({{ left }} & {{ right }})
{%- endmacro %}

{% macro snowflake__bit_and(left, right) -%}
    bitand({{ left }}, {{ right }})
{%- endmacro %}

{% macro default__bit_and(left, right) -%}
    {{ unsupported_adapter('bit_and') }}
{%- endmacro %}

{% macro bit_or_agg(expression) -%}
    {{ return(adapter.dispatch('bit_or_agg')(expression)) }}
{%- endmacro %}

{% macro duckdb__bit_or_agg(expression) -%}
    bit_or({{ expression }})
{%- endmacro %}

{% macro snowflake__bit_or_agg(expression) -%}
    bitor_agg({{ expression }})
{%- endmacro %}

{% macro default__bit_or_agg(expression) -%}
    {{ unsupported_adapter('bit_or_agg') }}
{%- endmacro %}
