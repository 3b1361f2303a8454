{#-
    Snowflake raw load: `dbt run-operation load_raw --target prod`.

    Creates (or replaces, so a changed option or URL reaches the account) a CSV file format and an
    external stage on the S3 landing zone, creates the raw tables that are missing (permanent:
    one per MovieLens file), then runs COPY INTO for each table. The raw schema comes from
    `make prod-setup`. `loaded_at` is UTC whatever the session's TIMEZONE (CONVERT_TIMEZONE is
    one of the functions a COPY transformation may call: docs.snowflake.com/en/user-guide/data-load-transform).

    - Raw columns are text, exactly as in the file, plus load metadata (filename,
      file_row_number, loaded_at). Typing happens in staging with try_cast, the same way on
      both targets, so a value that does not parse is never dropped by COPY: it reaches
      staging and the rejects checks. What COPY itself cannot read (a broken quote, a wrong
      column count) stops the load (ON_ERROR = ABORT_STATEMENT) with Snowflake's message naming
      the file and line.
    - `filename` holds the full URL, the same value DuckDB's read_csv gives, so lineage reads
      the same on both targets. For an external stage METADATA$FILENAME is the object's path
      from the bucket root (stage prefix included), so the URL is 's3://<bucket>/' || it.
    - Snowflake's load history skips files already loaded: re-running loads nothing twice.
    - dbt never writes to these tables after the load: models only read them through source().
-#}

{% macro raw_stage_url() %}
    {%- set url = env_var('SNOWFLAKE_STAGE_URL', 's3://' ~ env_var('S3_BUCKET', 'movielens-landing') ~ '/' ~ env_var('S3_PREFIX', 'movielens/raw') ~ '/') -%}
    {{ return(url if url.endswith('/') else url ~ '/') }}
{% endmacro %}

{% macro raw_bucket_url() %}
    {#- 's3://bucket/prefix/' -> 's3://bucket/' -#}
    {%- set url = raw_stage_url() -%}
    {%- set scheme, rest = url.split('://', 1) -%}
    {{ return(scheme ~ '://' ~ rest.split('/', 1)[0] ~ '/') }}
{% endmacro %}

{% macro raw_schema_name() %}
    {{ return(env_var('SNOWFLAKE_RAW_DATABASE', target.database) ~ '.' ~ env_var('SNOWFLAKE_RAW_SCHEMA', 'raw')) }}
{% endmacro %}

{% macro load_raw_setup_sql() %}
    {#- Every statement is one the role of `make prod-setup` may run (tests/test_snowflake_prod.py
        checks them against its grants): it owns what it creates here, so `create or replace`
        (which needs OWNERSHIP of the existing object) brings a changed option or stage URL to the
        account on every load; the raw schema itself is created by the set-up, not here. -#}
    {%- set raw = raw_schema_name() -%}
    {%- set integration = env_var('SNOWFLAKE_STORAGE_INTEGRATION', '') -%}
    {%- if env_var('SNOWFLAKE_STAGE_AWS_KEY_ID', '') -%}
        {#- Keys in the stage would have to be written into SQL that dbt logs, and dbt refuses
            DBT_ENV_SECRET_ variables outside profiles.yml: a storage integration is the one way. -#}
        {{ exceptions.raise_compiler_error(
            "load_raw: SNOWFLAKE_STAGE_AWS_KEY_ID is set, but stage keys are not supported (they would be written into logged SQL): "
            ~ "create the storage integration of `make prod-setup` and set SNOWFLAKE_STORAGE_INTEGRATION instead"
        ) }}
    {%- endif -%}
    {%- set statements = [] -%}
    {%- do statements.append(
        "create or replace file format " ~ raw ~ ".movielens_csv " ~ raw_csv_format_options()
    ) -%}
    {%- set access = 'storage_integration = ' ~ integration if integration else '' -%}
    {%- do statements.append(
        "create or replace stage " ~ raw ~ ".movielens_landing url = '" ~ raw_stage_url() ~ "' "
        ~ access ~ " file_format = " ~ raw ~ ".movielens_csv"
    ) -%}
    {%- for table, columns in raw_tables().items() -%}
        {%- set column_sql = [] -%}
        {%- for column in columns -%}
            {%- do column_sql.append(column ~ ' varchar') -%}
        {%- endfor -%}
        {#- A permanent table (not transient): raw is the one copy of every delivery in the
            warehouse, so it keeps Fail-safe. -#}
        {%- do statements.append(
            'create table if not exists ' ~ raw ~ '.' ~ table ~ ' ('
            ~ column_sql | join(', ')
            ~ ', filename varchar, file_row_number number, loaded_at timestamp_ntz)'
        ) -%}
    {%- endfor -%}
    {{ return(statements) }}
{% endmacro %}

{#-
    The CSV file format, every option set explicitly so that the same bytes give the same raw
    values as DuckDB's read_csv (macros/raw/raw_layer.sql); Snowflake's defaults differ on several:
    - escape_unenclosed_field = none, escape = none: a backslash is an ordinary character
      (default '\': `C:\path\` would lose its backslashes, a trailing one join two records);
      a quote inside an enclosed field is written doubled, as in RFC 4180.
    - null_if = (): `\N` is text like any other (default null_if = ('\N')).
    - empty_field_as_null = false: every field present in the record is a string, so a field
      missing from a short record (NULL) can be told from an empty one (''); copy_into_sql then
      maps '' to NULL. The rule, on both targets: an empty field, quoted ("") or not, is NULL.
    - skip_blank_lines = true: a blank line holds no data, anywhere in the file (default false:
      a blank line is a record of one empty field).
    - record_delimiter is left at its default, the new line, which Snowflake documents as logical:
      `\r\n` ends a record too (CRLF files load as LF files do).
    - error_on_column_count_mismatch = true is Snowflake's default, but a COPY with a
      transformation ignores it: copy_into_sql checks the field count itself.
-#}
{% macro raw_csv_format_options() %}
    {{ return(
        "type = csv field_delimiter = ',' skip_header = 1 field_optionally_enclosed_by = '\"'"
        ~ " escape = none escape_unenclosed_field = none null_if = () empty_field_as_null = false"
        ~ " skip_blank_lines = true trim_space = false encoding = 'UTF8' replace_invalid_characters = false"
        ~ " error_on_column_count_mismatch = true compression = auto"
    ) }}
{% endmacro %}

{% macro raw_schema_sql() %}
    {#- `create schema if not exists` needs CREATE SCHEMA on the database even when the schema
        exists (docs.snowflake.com/en/sql-reference/sql/create-schema, Access control requirements),
        which the least-privilege role lacks: issue it only when the schema is not there (the
        emulator; on an account `make prod-setup` creates it). -#}
    {%- set database = env_var('SNOWFLAKE_RAW_DATABASE', target.database) -%}
    {%- set schema = env_var('SNOWFLAKE_RAW_SCHEMA', 'raw') -%}
    {#- SHOW lists only schemas the role may use; LIKE is case-insensitive (the emulator ignores
        it, so the names are compared here too). -#}
    {%- set names = run_query(
        "show terse schemas like '" ~ schema | replace("'", "''") ~ "' in database " ~ database
    ).columns['name'].values() -%}
    {%- set found = names | map('upper') | select('equalto', schema | upper) | list | length -%}
    {{ return([] if found else ['create schema if not exists ' ~ raw_schema_name()]) }}
{% endmacro %}

{#-
    COPY INTO one raw table, with a transformation (positions, file name, row number, load time).
    Snowflake ignores ERROR_ON_COLUMN_COUNT_MISMATCH in a transforming COPY ("Transforming data
    during a load"): a field beyond the last column would be dropped and a missing one read as
    NULL. So the first column's expression checks the count itself: the last expected field
    ($n) must be present and the one after it ($n+1) absent, or the record fails a cast, which
    aborts the statement (ON_ERROR = ABORT_STATEMENT) with Snowflake's message naming the file and
    line, as DuckDB's strict read stops on the same record. A field present in the record is never
    NULL here (empty_field_as_null = false, null_if = ()), so NULL means "missing".
-#}
{% macro copy_into_sql(table) %}
    {%- set raw = raw_schema_name() -%}
    {%- set columns = raw_tables()[table] -%}
    {%- set n = columns | length -%}
    {%- set positions = [] -%}
    {%- for column in columns -%}
        {%- set field = 't.$' ~ loop.index -%}
        {%- if loop.first -%}
            {%- do positions.append(
                'case when t.$' ~ n ~ ' is null or t.$' ~ (n + 1) ~ ' is not null'
                ~ " then cast(cast('wrong number of fields (expected " ~ n ~ "): record '"
                ~ ' || metadata$file_row_number as number) as varchar)'
                ~ " when " ~ field ~ " = '' then null else " ~ field ~ ' end'
            ) -%}
        {%- else -%}
            {%- do positions.append('case when ' ~ field ~ " = '' then null else " ~ field ~ ' end') -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(
        'copy into ' ~ raw ~ '.' ~ table ~ ' (' ~ columns | join(', ') ~ ', filename, file_row_number, loaded_at)'
        ~ " from (select " ~ positions | join(', ')
        ~ ", '" ~ raw_bucket_url() ~ "' || metadata$filename, metadata$file_row_number,"
        ~ " convert_timezone('UTC', current_timestamp())::timestamp_ntz"
        ~ ' from @' ~ raw ~ '.movielens_landing/' ~ table ~ '/ as t)'
        ~ ' file_format = (format_name = ' ~ raw ~ '.movielens_csv)'
        ~ ' on_error = abort_statement'
    ) }}
{% endmacro %}

{% macro load_raw(tables=none) %}
    {%- if target.type != 'snowflake' -%}
        {{ exceptions.raise_compiler_error("load_raw is the Snowflake raw load; on DuckDB the raw layer is the landing zone itself (see raw_layer).") }}
    {%- endif -%}
    {%- for statement in raw_schema_sql() + load_raw_setup_sql() -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
    {%- set selected = tables if tables else raw_tables().keys() | list -%}
    {%- set total = namespace(files=0, rows=0) -%}
    {%- for table in selected -%}
        {%- set result = run_query(copy_into_sql(table)) -%}
        {%- set loaded = namespace(files=0, rows=0) -%}
        {%- for row in result.rows -%}
            {#- COPY returns one row per file (file, status, rows_parsed, rows_loaded, ...) or one
                'Copy executed with 0 files processed.' row when every file was loaded before. -#}
            {%- if row | length > 3 and row[3] is number -%}
                {%- set loaded.files = loaded.files + 1 -%}
                {%- set loaded.rows = loaded.rows + row[3] -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do log('load_raw: ' ~ table ~ ': ' ~ loaded.files ~ ' new file(s), ' ~ loaded.rows ~ ' row(s) loaded', info=true) -%}
        {%- set total.files = total.files + loaded.files -%}
        {%- set total.rows = total.rows + loaded.rows -%}
    {%- endfor -%}
    {%- do log('load_raw: done, ' ~ total.files ~ ' new file(s), ' ~ total.rows ~ ' row(s); files loaded before were skipped (load history)', info=true) -%}
{% endmacro %}
