{#- One row per calendar day from the first to the last day with any rating or tag. -#}
with

ratings as (
    select * from {{ ref('fct_ratings') }}
),

tags as (
    select * from {{ ref('fct_tags') }}
),

activity_days as (
    select cast(rated_at as date) as activity_date from ratings
    union all
    select cast(tagged_at as date) as activity_date from tags
),

bounds as (
    select
        min(activity_date) as first_date,
        max(activity_date) as last_date
    from activity_days
),

{#- 15,000 days (41 years) is ample for MovieLens' 1995-2015 range. #}

day_offsets as (
    {{ dbt.generate_series(15000) }}
),

spine as (
    select
        cast({{ dbt.dateadd('day', 'day_offsets.generated_number - 1', 'bounds.first_date') }} as date) as date_day
    from day_offsets
    cross join bounds
    where day_offsets.generated_number - 1 <= {{ dbt.datediff('bounds.first_date', 'bounds.last_date', 'day') }}
),

final as (
    select
        date_day,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start_date,
        cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start_date,
        extract(year from date_day) as calendar_year,
        extract(quarter from date_day) as calendar_quarter,
        extract(month from date_day) as calendar_month,
        extract(day from date_day) as day_of_month
    from spine
)

select * from final
