{#-
    One row per (user, movie, tag text). A tag delivered again keeps its first application;
    the latest delivery wins only if it carries a newer timestamp.
-#}
with

tags as (
    select * from {{ ref('stg_movielens__tags') }}
),

deduplicated as (
    select *
    from tags
    qualify row_number() over (
            partition by tag_id
            order by tagged_at desc, batch_id asc, source_file asc
        ) = 1
),

final as (
    select
        tag_id,
        user_id,
        movie_id,
        tag,
        tag_normalized,
        tagged_at,
        source_file,
        batch_id
    from deduplicated
)

select * from final
