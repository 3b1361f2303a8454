with

genome_scores as (
    select * from {{ ref('stg_movielens__genome_scores') }}
),

final as (
    select
        movie_id,
        genome_tag_id,
        relevance
    from genome_scores
)

select * from final
