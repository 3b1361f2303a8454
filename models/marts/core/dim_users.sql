{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_touched_users() }}",
    )
}}

{#- Incremental by user: only the users a new batch touches are recomputed (macros/incremental/touched_users.sql). -#}
-- depends_on: {{ ref('stg_movielens__tag_removals') }}
{%- set since = counted_through_batch() %}

with

ratings as (
    select * from {{ ref('fct_ratings') }}
    {%- if is_incremental() %}
        where user_id in ({{ touched_users(since) }})
    {%- endif %}
),

tags as (
    select * from {{ ref('fct_tags') }}
    {%- if is_incremental() %}
        where user_id in ({{ touched_users(since) }})
    {%- endif %}
),

rating_activity as (
    select
        user_id,
        count(*) as rating_count,
        avg(cast(rating as double)) as average_rating,
        min(rated_at) as first_rated_at,
        max(rated_at) as last_rated_at,
        max(batch_id) as last_batch_id
    from ratings
    group by user_id
),

tag_activity as (
    select
        user_id,
        count(*) as tag_count,
        min(tagged_at) as first_tagged_at,
        max(tagged_at) as last_tagged_at,
        max(batch_id) as last_batch_id
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
        end as last_active_at,
        greatest(
            coalesce(rating_activity.last_batch_id, -1), coalesce(tag_activity.last_batch_id, -1)
        ) as last_batch_id
    from rating_activity
    full outer join tag_activity
        on rating_activity.user_id = tag_activity.user_id
)

select * from final
