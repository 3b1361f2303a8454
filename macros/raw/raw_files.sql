{#-
    Where the raw files are, spelled once for the raw layer, the landing-zone guard, source
    freshness and the tests scoped to new batches: the landing zone's root (MOVIELENS_RAW_ROOT,
    an s3:// URL or a local folder, without a trailing '/') and one table's files under it,
    <root>/<table>/batch=<NNNN>/*.csv. Callers quote them for SQL.
-#}
{% macro raw_root() -%}
    {{ return(env_var('MOVIELENS_RAW_ROOT', 'data/landing').rstrip('/')) }}
{%- endmacro %}

{% macro raw_files_glob(table) -%}
    {{ return(raw_root() ~ '/' ~ table ~ '/*/*.csv') }}
{%- endmacro %}
