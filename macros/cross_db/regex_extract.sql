{#-
    The text matched by capture group `group` of a regular expression, or null when nothing matches.
    DuckDB returns '' for no match, Snowflake returns null: both give null here.
    Write patterns without backslashes ([(] rather than \(): Snowflake string literals
    treat backslashes as escapes and DuckDB's do not.
-#}
{% macro regex_extract(column, pattern, group=1) -%}
    {{ return(adapter.dispatch('regex_extract')(column, pattern, group)) }}
{%- endmacro %}

{% macro duckdb__regex_extract(column, pattern, group) -%}
    nullif(regexp_extract({{ column }}, '{{ pattern }}', {{ group }}), '')
{%- endmacro %}

{% macro snowflake__regex_extract(column, pattern, group) -%}
    regexp_substr({{ column }}, '{{ pattern }}', 1, 1, 'e', {{ group }})
{%- endmacro %}

{% macro default__regex_extract(column, pattern, group) -%}
    {{ unsupported_adapter('regex_extract') }}
{%- endmacro %}
