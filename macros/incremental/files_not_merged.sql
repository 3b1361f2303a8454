{#-
    A filter keeping only the rows of landing-zone files that `this` has not merged yet: on an
    incremental run, `<column> not in ('<file>', ...)` with every file already in `this` written
    out, so that DuckDB reads none of those files (it skips a file only for a list of constants,
    not for a subquery); `true` on a full build. fct_ratings does the same inline.
-#}
{% macro files_not_merged(column, merged_column='source_file') -%}
    {%- set merged = [] -%}
    {%- if is_incremental() and execute -%}
        {%- set merged = run_query('select distinct ' ~ merged_column ~ ' from ' ~ this).columns[0].values() -%}
    {%- endif -%}
    {%- if merged | length > 0 -%}
        {{ column }} not in (
            {%- for file in merged %}
            '{{ file | replace("'", "''") }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
