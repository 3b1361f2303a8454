with

ratings as (
    select * from {{ ref('fct_ratings') }}
),

tags as (
    select * from {{ ref('fct_tags') }}
),

rating_activity as (
    select
        user_id,
        count(*) as rating_count,
        avg(cast(rating as double)) as average_rating,
        min(rated_at) as first_rated_at,
        max(rated_at) as last_rated_at
    from ratings
    group by user_id
),

tag_activity as (
    select
        user_id,
        count(*) as tag_count,
        min(tagged_at) as first_tagged_at,
        max(tagged_at) as last_tagged_at
    from tags
    group by user_id
),

final as (
    select
        rating_activity.average_rating,
        coalesce(rating_activity.user_id, tag_activity.user_id) as user_id,
        coalesce(rating_activity.rating_count, 0) as rating_count,
        coalesce(tag_activity.tag_count, 0) as tag_count,
        case
            when tag_activity.first_tagged_at is null then rating_activity.first_rated_at
            when rating_activity.first_rated_at is null then tag_activity.first_tagged_at
            when tag_activity.first_tagged_at < rating_activity.first_rated_at then tag_activity.first_tagged_at
            else rating_activity.first_rated_at
        end as first_active_at,
        case
            when tag_activity.last_tagged_at is null then rating_activity.last_rated_at
            when rating_activity.last_rated_at is null then tag_activity.last_tagged_at
            when tag_activity.last_tagged_at > rating_activity.last_rated_at then tag_activity.last_tagged_at
            else rating_activity.last_rated_at
        end as last_active_at
    from rating_activity
    full outer join tag_activity
        on rating_activity.user_id = tag_activity.user_id
)

select * from final
