{{
    config(
        materialized='incremental',
        unique_key='movie_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

{#-
    The most relevant genome tags of each movie, ranked; a window, not a sort of all scores.
    Incremental by movie: a run ranks again only the movies with scores from a batch newer than
    any ranked here (delete+insert on movie_id), so a delivery without genome scores ranks nothing.
-#}
with

scores as (
    select * from {{ ref('fct_genome_scores') }}
    {%- if is_incremental() %}
        where movie_id in (
            select movie_id from {{ ref('fct_genome_scores') }}
            where batch_id > (select coalesce(max(batch_id), -1) from {{ this }})
        )
    {%- endif %}
),

genome_tags as (
    select * from {{ ref('dim_genome_tags') }}
),

ranked as (
    select
        movie_id,
        genome_tag_id,
        relevance,
        row_number() over (
            partition by movie_id
            order by relevance desc, genome_tag_id asc
        ) as tag_rank,
        max(batch_id) over (partition by movie_id) as batch_id
    from scores
    qualify tag_rank <= {{ var('top_tags_per_movie') }}
),

final as (
    select
        ranked.movie_id,
        cast(ranked.tag_rank as integer) as tag_rank,
        ranked.genome_tag_id,
        genome_tags.genome_tag,
        ranked.relevance,
        cast(ranked.batch_id as integer) as batch_id
    from ranked
    inner join genome_tags
        on ranked.genome_tag_id = genome_tags.genome_tag_id
)

select * from final
