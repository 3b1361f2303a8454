with

genome_tags as (
    select * from {{ ref('stg_movielens__genome_tags') }}
),

final as (
    select
        genome_tag_id,
        genome_tag
    from genome_tags
)

select * from final
