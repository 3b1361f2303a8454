{#- The current time as a timezone-less UTC timestamp, comparable with the UTC timestamps of the
    facts (epoch_to_timestamp) whatever the session's time zone. dbt.current_timestamp() is
    zone-aware on both targets: compared with a timezone-less value, that value is read in the
    session's zone (DuckDB's default is the machine's), so a rating an hour old reads as in the
    future west of UTC. A constant of the column's own type also lets DuckDB skip every row group
    by its min/max instead of converting 20 million values. -#}
{% macro current_utc_timestamp() -%}
    {{ return(adapter.dispatch('current_utc_timestamp')()) }}
{%- endmacro %}

{% macro duckdb__current_utc_timestamp() -%}
    cast(timezone('UTC', now()) as timestamp)
{%- endmacro %}

{#- Snowflake documents CONVERT_TIMEZONE(<target_tz>, <source_timestamp>) as returning TIMESTAMP_TZ
    in the target zone; cast to TIMESTAMP_NTZ it keeps that zone's wall clock (as
    macros/snowflake/raw_load.sql records loaded_at). -#}
{% macro snowflake__current_utc_timestamp() -%}
    convert_timezone('UTC', current_timestamp())::timestamp_ntz
{%- endmacro %}

{% macro default__current_utc_timestamp() -%}
    {{ unsupported_adapter('current_utc_timestamp') }}
{%- endmacro %}
