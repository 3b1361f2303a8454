{#-
    Cast a raw text value to a type, giving null instead of an error when it does not parse.
    dbt.safe_cast is a plain (failing) cast on DuckDB, and Snowflake's try_cast only accepts text,
    so the input is made text first on Snowflake (raw columns there may already be typed).
-#}
{% macro try_cast_text(column, type) -%}
    {{ return(adapter.dispatch('try_cast_text')(column, type)) }}
{%- endmacro %}

{% macro duckdb__try_cast_text(column, type) -%}
    try_cast({{ column }} as {{ type }})
{%- endmacro %}

{% macro snowflake__try_cast_text(column, type) -%}
    try_cast(cast({{ column }} as varchar) as {{ type }})
{%- endmacro %}

{% macro default__try_cast_text(column, type) -%}
    {{ unsupported_adapter('try_cast_text') }}
{%- endmacro %}
