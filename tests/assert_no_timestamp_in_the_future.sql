-- No rating or tag claims to have happened after the build started.
with

ratings as (
    select
        rated_at as happened_at,
        'rating' as event_kind
    from {{ ref('fct_ratings') }}
),

tags as (
    select
        tagged_at as happened_at,
        'tag' as event_kind
    from {{ ref('fct_tags') }}
),

events as (
    select * from ratings
    union all
    select * from tags
)

select *
from events
where happened_at > {{ dbt.current_timestamp() }}
