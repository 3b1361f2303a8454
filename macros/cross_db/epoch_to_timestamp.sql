{#- Epoch seconds (UTC) to a timezone-less UTC timestamp. -#}
{% macro epoch_to_timestamp(column) -%}
    {{ return(adapter.dispatch('epoch_to_timestamp')(column)) }}
{%- endmacro %}

{% macro duckdb__epoch_to_timestamp(column) -%}
    make_timestamp(cast({{ column }} as bigint) * 1000000)
{%- endmacro %}

{% macro snowflake__epoch_to_timestamp(column) -%}
    to_timestamp_ntz(cast({{ column }} as bigint))
{%- endmacro %}

{% macro default__epoch_to_timestamp(column) -%}
    {{ unsupported_adapter('epoch_to_timestamp') }}
{%- endmacro %}
