{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_touched_users() }}",
    )
}}

{#- Incremental by user: only the users a new batch touches are recomputed, every month of theirs
    (macros/incremental/touched_users.sql). -#}
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

rating_months as (
    select
        user_id,
        cast({{ dbt.date_trunc('month', 'rated_at') }} as date) as activity_month,
        count(*) as rating_count,
        avg(cast(rating as double)) as average_rating,
        max(batch_id) as last_batch_id
    from ratings
    group by user_id, cast({{ dbt.date_trunc('month', 'rated_at') }} as date)
),

tag_months as (
    select
        user_id,
        cast({{ dbt.date_trunc('month', 'tagged_at') }} as date) as activity_month,
        count(*) as tag_count,
        max(batch_id) as last_batch_id
    from tags
    group by user_id, cast({{ dbt.date_trunc('month', 'tagged_at') }} as date)
),

final as (
    select
        cast(coalesce(rating_months.rating_count, 0) as bigint) as rating_count,
        cast(coalesce(tag_months.tag_count, 0) as bigint) as tag_count,
        cast(greatest(
            coalesce(rating_months.last_batch_id, -1), coalesce(tag_months.last_batch_id, -1)
        ) as integer) as last_batch_id,
        rating_months.average_rating,
        coalesce(rating_months.user_id, tag_months.user_id) as user_id,
        coalesce(rating_months.activity_month, tag_months.activity_month) as activity_month
    from rating_months
    full outer join tag_months
        on
            rating_months.user_id = tag_months.user_id
            and rating_months.activity_month = tag_months.activity_month
)

select * from final
