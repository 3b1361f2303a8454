{#-
    The tags currently applied: one row per (user, movie, tag text). A tag delivered again keeps
    its latest application; a tag withdrawn by a later delivery (tag_removals) is gone unless a
    delivery after the removal applies it again.
-#}
with

tags as (
    select * from {{ ref('stg_movielens__tags') }}
),

removals as (
    select * from {{ ref('stg_movielens__tag_removals') }}
),

latest_application as (
    select
        *,
        max(batch_id) over (partition by tag_id) as last_applied_batch_id
    from tags
    qualify row_number() over (
            partition by tag_id
            order by tagged_at desc, batch_id asc, source_file asc
        ) = 1
),

last_removal as (
    select
        tag_id,
        max(batch_id) as last_removed_batch_id
    from removals
    group by tag_id
),

current_tags as (
    select latest_application.*
    from latest_application
    left join last_removal
        on latest_application.tag_id = last_removal.tag_id
    where
        last_removal.tag_id is null
        or latest_application.last_applied_batch_id > last_removal.last_removed_batch_id
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
    from current_tags
)

select * from final
