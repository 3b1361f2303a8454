{#- Split a delimited string into a list (DuckDB list / Snowflake array); null or '' give an empty list. -#}
{% macro split_to_list(column, delimiter) -%}
    {{ return(adapter.dispatch('split_to_list')(column, delimiter)) }}
{%- endmacro %}

{% macro duckdb__split_to_list(column, delimiter) -%}
    case
        when coalesce({{ column }}, '') = '' then cast([] as varchar[])
        else string_split({{ column }}, '{{ delimiter }}')
    end
{%- endmacro %}

{% macro snowflake__split_to_list(column, delimiter) -%}
    case
        when coalesce({{ column }}, '') = '' then array_construct()
        else split({{ column }}, '{{ delimiter }}')
    end
{%- endmacro %}

{% macro default__split_to_list(column, delimiter) -%}
    {{ unsupported_adapter('split_to_list') }}
{%- endmacro %}

{#- Number of elements in a list. -#}
{% macro list_size(column) -%}
    {{ return(adapter.dispatch('list_size')(column)) }}
{%- endmacro %}

{% macro duckdb__list_size(column) -%}
    len({{ column }})
{%- endmacro %}

{% macro snowflake__list_size(column) -%}
    array_size({{ column }})
{%- endmacro %}

{% macro default__list_size(column) -%}
    {{ unsupported_adapter('list_size') }}
{%- endmacro %}
