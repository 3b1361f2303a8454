{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{#-
    Incremental by file: a run reads only the genome-scores files not merged yet, so a delivery
    without one re-parses nothing (the file is about 200 MB at ml-20m scale).
-#}
with

genome_scores as (
    select * from {{ ref('stg_movielens__genome_scores') }}
    where {{ files_not_merged('source_file') }}
),

final as (
    select
        movie_id,
        genome_tag_id,
        relevance,
        source_file,
        {{ try_cast_text(regex_extract('source_file', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from genome_scores
)

select * from final
