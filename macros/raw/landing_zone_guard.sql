{#-
    The warehouse knows what it was built from. Run as the first on-run-start hook, before the raw
    layer and before any model, seed or snapshot is written.

    DuckDB: two tables in the raw schema hold the record, `landing_zone` (the landing zone the
    warehouse is built from: MOVIELENS_RAW_ROOT, s3://bucket/prefix or a folder) and
    `landing_files` (every raw file a build has read: name, size, last-modified). A build stops,
    with one line naming the difference and the fix, when
      - MOVIELENS_RAW_ROOT names another landing zone (e.g. `make dev RAW=local`, then `make build`
        with RAW=s3): builds never mix two landing zones;
      - a recorded file is missing from the landing zone, or changed: another size or another
        last-modified (a local S3 server that forgot its objects, a folder cleaned by hand, a file
        written over): building on would drop merged rows from the tables and record false
        deletions in the snapshots.
    `--full-refresh` rebuilds from the landing zone as it now is: the record starts again, and
    snapshots with history from the old landing zone are kept aside, renamed
    `<snapshot>__before_<YYYYMMDDHHMMSS>`, so no deletion is recorded for a lost file.
    New files are added to the record by every build that passes.

    Snowflake: the raw tables are the record. COPY INTO loads each staged file once (load
    history) and never deletes a loaded row, so a file lost from the stage changes nothing in the
    warehouse and the snapshots see no deletion; nothing to check here.
-#}

{% macro landing_zone_guard() -%}
    {{ return(adapter.dispatch('landing_zone_guard')()) }}
{%- endmacro %}

{% macro snowflake__landing_zone_guard() -%}
    select 1
{%- endmacro %}

{% macro default__landing_zone_guard() -%}
    {{ unsupported_adapter('landing_zone_guard') }}
{%- endmacro %}

{% macro duckdb__landing_zone_guard() -%}
    {%- if not execute -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set root = raw_root() -%}
    {%- set quoted_root = root | replace("'", "''") -%}
    {%- set raw_schema = env_var('SNOWFLAKE_RAW_SCHEMA', 'raw') -%}
    {%- set patterns = [] -%}
    {%- for table in raw_tables() -%}
        {%- do patterns.append("'" ~ raw_files_glob(table) | replace("'", "''") ~ "'") -%}
    {%- endfor -%}
    {#- The landing zone is listed once per build (on S3, LIST requests), into a temp table the
        checks below read, and only after the recorded landing zone is found to be this one. Listing only: read_blob reads no content unless `content` is selected. -#}
    {%- set current_files = 'select filename, size, last_modified from landing_listing' -%}
    {%- set fix_refresh = 'or rebuild from the landing zone as it now is with --full-refresh (make build DBT_ARGS=--full-refresh)' -%}

    {#- A file is identified by its size and last-modified, not a checksum of its content: S3 sets
        Last-Modified on every PUT and the uploader copies a local file with its mtime, so a file
        cannot be written over and keep both, while an md5 read every new file whole (2.6-3.4 GiB
        peak and seconds per full build at ml-20m scale: read_blob holds a file's content in memory). -#}
    {%- do run_query(
        'create schema if not exists ' ~ raw_schema ~ ';'
        ~ ' create table if not exists ' ~ raw_schema ~ '.landing_zone (raw_root varchar not null, recorded_at timestamp not null);'
        ~ ' create table if not exists ' ~ raw_schema ~ '.landing_files (filename varchar not null, size bigint not null,'
        ~ ' last_modified timestamptz not null, recorded_at timestamp not null);'
        ~ ' alter table ' ~ raw_schema ~ '.landing_files drop column if exists md5;'
    ) -%}
    {%- set list_landing_zone = 'create temp table if not exists landing_listing as'
        ~ ' select filename, size, last_modified from read_blob([' ~ patterns | join(', ') ~ '])' -%}
    {%- set recorded = run_query('select raw_root from ' ~ raw_schema ~ '.landing_zone').columns[0].values() -%}
    {%- set problem = none -%}
    {%- set differences =
        'select recorded.filename, case when current_files.filename is null then \'missing\' else \'changed\' end as status'
        ~ ' from ' ~ raw_schema ~ '.landing_files as recorded'
        ~ ' left join (' ~ current_files ~ ') as current_files on recorded.filename = current_files.filename'
        ~ ' where current_files.filename is null or current_files.size != recorded.size'
        ~ ' or current_files.last_modified != recorded.last_modified order by 1' -%}

    {%- if recorded | length > 0 and recorded[0] != root -%}
        {%- set back = 'RAW=s3 with S3_BUCKET/S3_PREFIX as then' if recorded[0].startswith('s3://') else 'RAW=local, or MOVIELENS_RAW_ROOT=' ~ recorded[0] -%}
        {%- set problem = 'this warehouse (' ~ target.path ~ ') was built from the landing zone ' ~ recorded[0]
            ~ ', not ' ~ root ~ ' (MOVIELENS_RAW_ROOT): build from the same one (' ~ back ~ '), '
            ~ fix_refresh -%}
    {%- elif recorded | length > 0 -%}
        {%- do run_query(list_landing_zone) -%}
        {%- set lost = run_query(differences) -%}
        {%- if lost.rows | length > 0 -%}
            {%- set missing = lost.columns[1].values() | select('equalto', 'missing') | list | length -%}
            {%- set changed = lost.rows | length - missing -%}
            {%- set problem = 'the landing zone ' ~ root ~ ' no longer holds ' ~ lost.rows | length
                ~ ' of the files this warehouse (' ~ target.path ~ ') was built from (' ~ missing ~ ' missing, '
                ~ changed ~ ' changed; first: ' ~ lost.rows[0][0] ~ '): restore them as they were (make s3 restores'
                ~ ' what landed on a local server, dates included), ' ~ fix_refresh -%}
        {%- endif -%}
    {%- endif -%}

    {%- if problem and not flags.FULL_REFRESH -%}
        {{ exceptions.raise_compiler_error(problem) }}
    {%- elif problem -%}
        {%- set stamp = modules.datetime.datetime.utcnow().strftime('%Y%m%d%H%M%S') -%}
        {%- for node in graph.nodes.values() | selectattr('resource_type', 'equalto', 'snapshot') -%}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
            {%- if relation -%}
                {#- Through the adapter, so that dbt's relation cache forgets the old name too. -#}
                {%- do adapter.rename_relation(relation, relation.incorporate(path={'identifier': node.alias ~ '__before_' ~ stamp})) -%}
                {{ log('landing zone changed: ' ~ relation ~ ' kept aside as ' ~ node.alias ~ '__before_' ~ stamp ~ '; it starts again from ' ~ root, info=true) }}
            {%- endif -%}
        {%- endfor -%}
        {#- rename_relation opened a transaction: commit it, or dbt rolls the hooks back. -#}
        {%- do adapter.commit() -%}
        {%- do run_query('delete from ' ~ raw_schema ~ '.landing_files; delete from ' ~ raw_schema ~ '.landing_zone') -%}
        {%- set recorded = [] -%}
    {%- endif -%}

    {%- if recorded | length == 0 -%}
        {%- do run_query('insert into ' ~ raw_schema ~ ".landing_zone values ('" ~ quoted_root ~ "', now())") -%}
    {%- endif -%}
    {#- Record the files not recorded yet (from the listing: no file is read). -#}
    {%- do run_query(list_landing_zone) -%}
    insert into {{ raw_schema }}.landing_files
    select
        current_files.filename,
        current_files.size,
        current_files.last_modified,
        now() as recorded_at
    from ({{ current_files }}) as current_files
    where current_files.filename not in (select recorded.filename from {{ raw_schema }}.landing_files as recorded)
{%- endmacro %}
