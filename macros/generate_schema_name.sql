{#-
    Custom schemas are used as they are named (staging, core, analytics, ...) instead of
    dbt's default <target_schema>_<custom>. Both targets then show the same schema names.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
