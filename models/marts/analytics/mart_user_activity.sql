with

ratings as (
    select * from {{ ref('fct_ratings') }}
),

tags as (
    select * from {{ ref('fct_tags') }}
),

rating_months as (
    select
        user_id,
        cast({{ dbt.date_trunc('month', 'rated_at') }} as date) as activity_month,
        count(*) as rating_count,
        avg(cast(rating as double)) as average_rating
    from ratings
    group by user_id, cast({{ dbt.date_trunc('month', 'rated_at') }} as date)
),

tag_months as (
    select
        user_id,
        cast({{ dbt.date_trunc('month', 'tagged_at') }} as date) as activity_month,
        count(*) as tag_count
    from tags
    group by user_id, cast({{ dbt.date_trunc('month', 'tagged_at') }} as date)
),

final as (
    select
        cast(coalesce(rating_months.rating_count, 0) as bigint) as rating_count,
        cast(coalesce(tag_months.tag_count, 0) as bigint) as tag_count,
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
