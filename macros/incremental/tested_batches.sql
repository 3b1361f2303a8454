{#-
    Data tests cost what changed: on an incremental build a test marked `where: __new_batches__`
    checks only the rows of deliveries (batches) that no complete, passing test run has checked
    yet; a full refresh, a first build and `--vars '{test_every_batch: true}'` check every row.

    The record is one table, audit.tested_batches: the newest batch of the facts when a `dbt
    build` or `dbt test` of the whole project (no --select, --exclude or --selector, or only
    --select source_status:fresher+ as `make update` runs it) ended with
    every data test passing (on-run-end hook record_tested_batches). A failing or partial test run
    records nothing, so its batches are checked again by the next run.
-#}

{% macro tested_batches_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='audit', identifier='tested_batches')) }}
{%- endmacro %}

{#- The newest batch already checked, or -1: every batch is to be checked. #}
{% macro tested_through_batch() -%}
    {%- if not execute or flags.FULL_REFRESH or var('test_every_batch', false) -%}
        {{ return(-1) }}
    {%- endif -%}
    {%- set record = tested_batches_relation() -%}
    {%- if adapter.get_relation(record.database, record.schema, record.identifier) is none -%}
        {{ return(-1) }}
    {%- endif -%}
    {%- set newest = run_query('select max(batch_id) from ' ~ record).columns[0].values()[0] -%}
    {{ return(-1 if newest is none else newest) }}
{%- endmacro %}

{#- dbt's own macro, overridden as dbt's docs show ("Custom logic" under the `where` config):
    the placeholder __new_batches__ becomes `batch_id > <newest batch already checked>`. #}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') or '' -%}
    {%- if '__new_batches__' in where -%}
        {%- set where = where | replace('__new_batches__', 'batch_id > ' ~ tested_through_batch()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{% macro record_tested_batches(results) -%}
    {#- Outside the condition below, so that dbt sees the references when it parses the hook. #}
    {%- set facts = [ref('fct_ratings'), ref('fct_tags'), ref('fct_rejected_rows'), ref('fct_genome_scores')] -%}
    {%- set args = invocation_args_dict -%}
    {#- Every test, or every test downstream of a fresher source (make update): the tests left
        out read only batches tested before. #}
    {%- set selected = args.get('select') or [] -%}
    {%- set whole_project = (not selected or selected | list == ['source_status:fresher+'])
        and not (args.get('exclude') or args.get('selector')) -%}
    {%- set tests = results | selectattr('node.resource_type', 'equalto', 'test') | list -%}
    {%- set failed = tests | rejectattr('status', 'in', ['pass', 'warn']) | list -%}
    {%- if execute and flags.WHICH in ('build', 'test') and whole_project and tests and not failed -%}
        {%- set record = tested_batches_relation() -%}
        create schema if not exists {{ record.include(identifier=false) }};
        create table if not exists {{ record }} (batch_id integer, recorded_at {{ dbt.type_timestamp() }});
        insert into {{ record }}
        select max(batch_id), {{ dbt.current_timestamp() }}
        from (
            {%- for fact in facts %}
            select max(batch_id) as batch_id from {{ fact }}{{ ' union all' if not loop.last }}
            {%- endfor %}
        ) as facts
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- The landed files of a raw table from a batch newer than `batch`, as a list, for a test that
    reads the raw layer: DuckDB reads only the files named in a list of constants. DuckDB lists
    the landing zone (as the raw layer's views do), Snowflake the files its raw table was loaded from. #}
{% macro landed_files_since(table, batch) -%}
    {{ return(adapter.dispatch('landed_files_since')(table, batch)) }}
{%- endmacro %}

{% macro default__landed_files_since(table, batch) -%}
    {{ unsupported_adapter('landed_files_since') }}
{%- endmacro %}

{% macro duckdb__landed_files_since(table, batch) -%}
    {%- set query -%}
        select file from glob('{{ raw_files_glob(table) | replace("'", "''") }}')
        where {{ try_cast_text(regex_extract('file', 'batch=([0-9]+)'), dbt.type_int()) }} > {{ batch }}
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() if execute else []) }}
{%- endmacro %}

{% macro snowflake__landed_files_since(table, batch) -%}
    {%- set query -%}
        select distinct filename from {{ source('movielens', table) }}
        where {{ try_cast_text(regex_extract('filename', 'batch=([0-9]+)'), dbt.type_int()) }} > {{ batch }}
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() if execute else []) }}
{%- endmacro %}

{#- A filter on a raw table's `filename` for a test of new batches only: every file on a full
    test, the files of batches not tested yet otherwise (none: `false`). #}
{% macro raw_files_to_test(column, table) -%}
    {%- set since = tested_through_batch() -%}
    {%- if since < 0 -%}
        true
    {%- else -%}
        {%- set files = landed_files_since(table, since) -%}
        {%- if files | length == 0 -%}
            false
        {%- else -%}
            {{ column }} in (
                {%- for file in files %}
                '{{ file | replace("'", "''") }}'{{ ',' if not loop.last }}
                {%- endfor %}
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
