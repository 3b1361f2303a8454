{#-
    The raw layer: one relation per raw table in the `raw` schema, which the sources point at.

    DuckDB: a view per table over every delivery in the landing zone
    (`<raw_root>/<table>/batch=<NNNN>/*.csv`, s3:// through httpfs or a local folder), every column
    read as text with the file name kept. The CSV dialect is fixed (comma, double quotes, header
    line) and parsing is strict: a malformed row stops the build instead of being guessed at.
    Header names are not read here (columns are taken in file order); scripts/landing/validate.py checks
    every header before a file lands. Views re-list the files on every query, so a new
    delivery is seen without re-creating them. Run as an on-run-start hook. A required table
    with no file at all stops the run with one message naming the folder; an optional one
    (see optional_raw_tables) becomes an empty view.

    Snowflake: raw tables are loaded by `COPY INTO` from the S3 stage (macros/snowflake/), not by
    dbt runs, so nothing happens here.
-#}

{% macro raw_layer() -%}
    {{ return(adapter.dispatch('raw_layer')()) }}
{%- endmacro %}

{% macro snowflake__raw_layer() -%}
    select 1
{%- endmacro %}

{% macro default__raw_layer() -%}
    {{ unsupported_adapter('raw_layer') }}
{%- endmacro %}

{% macro duckdb__raw_layer() -%}
    {%- set raw_schema = env_var('SNOWFLAKE_RAW_SCHEMA', 'raw') -%}
    create schema if not exists {{ raw_schema }};
    {%- for table, columns in raw_tables().items() %}
        {%- set pattern = raw_files_glob(table) | replace("'", "''") %}
        {%- set files = 1 %}
        {%- if execute %}
            {%- set files = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] %}
        {%- endif %}
        {%- if files == 0 and table not in optional_raw_tables() %}
            {{ exceptions.raise_compiler_error(
                "no raw file for table '" ~ table ~ "' under " ~ raw_root() ~ "/" ~ table
                ~ "/batch=NNNN/: land the MovieLens files first (make upload), or point MOVIELENS_RAW_ROOT at the landing zone"
            ) }}
        {%- elif files == 0 %}
    create or replace view {{ raw_schema }}.{{ table }} as
    select
        {%- for column in columns %}
        cast(null as varchar) as {{ column }},
        {%- endfor %}
        cast(null as varchar) as filename
    where false;
        {%- else %}
    create or replace view {{ raw_schema }}.{{ table }} as
    select *
    from read_csv(
        '{{ pattern }}',
        {#- An explicit dialect and strict parsing: the sniffer would otherwise read an
            unbalanced quote as text or take a malformed first row for the header. Every option
            that decides a value is set, matching the Snowflake file format field for field
            (raw_csv_format_options in macros/snowflake/raw_load.sql): a backslash and `\N` are
            text (escape is the doubled quote only, no null string but the empty one); an empty
            field, quoted ("") or not, is NULL; blank lines (anywhere, LF or CRLF) are skipped;
            a record with more or fewer fields than the columns stops the read at its line. #}
        auto_detect = false,
        header = true,
        delim = ',',
        quote = '"',
        escape = '"',
        nullstr = '',
        allow_quoted_nulls = true,
        encoding = 'utf-8',
        null_padding = false,
        ignore_errors = false,
        strict_mode = true,
        columns = {
            {%- for column in columns %}
            '{{ column }}': 'varchar'{{ ',' if not loop.last }}
            {%- endfor %}
        },
        filename = true,
        hive_partitioning = false
    );
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
