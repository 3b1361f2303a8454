{#-
    The raw layer: one relation per MovieLens file in the `raw` schema, which the sources point at.

    DuckDB: a view per table over every delivery in the landing zone
    (`<raw_root>/<table>/batch=<NNNN>/*.csv`, s3:// through httpfs or a local folder), every column
    read as text with the file name kept. Views re-list the files on every query, so a new
    delivery is seen without re-creating them. Run as an on-run-start hook.

    Snowflake: raw tables are loaded by `COPY INTO` from the S3 stage (macros/snowflake/), not by
    dbt runs, so nothing happens here.
-#}

{% macro raw_layer() -%}
    {{ return(adapter.dispatch('raw_layer')()) }}
{%- endmacro %}

{% macro default__raw_layer() -%}
    select 1
{%- endmacro %}

{% macro duckdb__raw_layer() -%}
    {%- set raw_root = env_var('MOVIELENS_RAW_ROOT', 'data/landing') | replace("'", "''") -%}
    {%- set raw_schema = env_var('SNOWFLAKE_RAW_SCHEMA', 'raw') -%}
    create schema if not exists {{ raw_schema }};
    {%- for table in ['movies', 'ratings', 'tags', 'links', 'genome_scores', 'genome_tags'] %}
    create or replace view {{ raw_schema }}.{{ table }} as
    select *
    from read_csv(
        '{{ raw_root }}/{{ table }}/*/*.csv',
        header = true,
        all_varchar = true,
        filename = true,
        hive_partitioning = false
    );
    {%- endfor %}
{%- endmacro %}
