{#-
    Source freshness of a raw table (loaded_at_query in _movielens__sources.yml): when its newest
    file landed. DuckDB lists the landing zone, as the raw layer does (S3's or the folder's
    last-modified time, no content read); Snowflake reads the raw table's loaded_at (set by COPY
    INTO, macros/snowflake/raw_load.sql). Rendered by `dbt source freshness`, with `this` the source.
-#}
{% macro raw_loaded_at_query() -%}
    {{ return(adapter.dispatch('raw_loaded_at_query')()) }}
{%- endmacro %}

{% macro default__raw_loaded_at_query() -%}
    {{ unsupported_adapter('raw_loaded_at_query') }}
{%- endmacro %}

{% macro duckdb__raw_loaded_at_query() -%}
    select max(last_modified) from read_blob('{{ raw_files_glob(this.identifier) | replace("'", "''") }}')
{%- endmacro %}

{% macro snowflake__raw_loaded_at_query() -%}
    select max(loaded_at) from {{ this }}
{%- endmacro %}
