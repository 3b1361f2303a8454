{#- The most relevant genome tags of each movie, ranked; a window, not a sort of all scores. -#}
with

scores as (
    select * from {{ ref('fct_genome_scores') }}
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
        ) as tag_rank
    from scores
    qualify tag_rank <= {{ var('top_tags_per_movie') }}
),

final as (
    select
        ranked.movie_id,
        cast(ranked.tag_rank as integer) as tag_rank,
        ranked.genome_tag_id,
        genome_tags.genome_tag,
        ranked.relevance
    from ranked
    inner join genome_tags
        on ranked.genome_tag_id = genome_tags.genome_tag_id
)

select * from final
