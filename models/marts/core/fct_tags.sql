{#-
    The tags currently applied: one row per (user, movie, tag text). A row the validator rejected
    (an empty tag, an id or timestamp not written plainly, an unknown movie) is left out, and listed
    in fct_rejected_rows. A tag delivered again keeps its latest application; a tag withdrawn by a later delivery (tag_removals) is gone unless a
    delivery after the removal applies it again.
-#}
with

movies as (
    select
        movie_id,
        first_batch_id
    from {{ ref('stg_movielens__movies') }}
),

tags as (
    -- The validator's rule (macros/contract/raw_value_rules.sql); it lists the rows left out here (fct_rejected_rows):
    -- ids positive 32-bit integers, a tag that is not empty, whole epoch seconds (staging keeps
    -- only values written plainly: anything else is null), a movie delivered in this batch or an
    -- earlier one.
    select staged_tags.*
    from {{ ref('stg_movielens__tags') }} as staged_tags
    inner join movies
        on
            staged_tags.movie_id = movies.movie_id
            and staged_tags.batch_id >= movies.first_batch_id
    where
        {{ is_valid_id('staged_tags.user_id') }}
        and {{ is_valid_id('staged_tags.movie_id') }}
        and staged_tags.tag is not null
        and staged_tags.tagged_at is not null
),

removals as (
    -- The same rule for removals: a removal the validator rejected withdraws nothing.
    select staged_removals.*
    from {{ ref('stg_movielens__tag_removals') }} as staged_removals
    inner join movies
        on
            staged_removals.movie_id = movies.movie_id
            and staged_removals.batch_id >= movies.first_batch_id
    where
        {{ is_valid_id('staged_removals.user_id') }}
        and {{ is_valid_id('staged_removals.movie_id') }}
        and staged_removals.tag is not null
        and staged_removals.removed_at is not null
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
