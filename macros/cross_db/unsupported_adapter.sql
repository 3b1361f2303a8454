{#-
    The `default__` of every dispatched macro: the project supports DuckDB and Snowflake only, so
    any other adapter stops at compile time with one line naming the macro, the adapter and the
    supported ones, instead of running DuckDB's SQL on a warehouse that does not speak it.
-#}
{% macro unsupported_adapter(macro_name) -%}
    {{ exceptions.raise_compiler_error(
        macro_name ~ ": no version for adapter '" ~ adapter.type() ~ "'; this project supports "
        ~ "duckdb and snowflake (add a " ~ adapter.type() ~ "__" ~ macro_name ~ " macro to support it)"
    ) }}
{%- endmacro %}
