-- No rating or tag claims to have happened after the build started, both read in UTC as the facts
-- are (among the batches no passing test run has checked; every batch on a full refresh).
with

ratings as (
    select
        rated_at as happened_at,
        'rating' as event_kind
    from {{ ref('fct_ratings') }}
    where batch_id > {{ tested_through_batch() }}
),

tags as (
    select
        tagged_at as happened_at,
        'tag' as event_kind
    from {{ ref('fct_tags') }}
    where batch_id > {{ tested_through_batch() }}
),

events as (
    select * from ratings
    union all
    select * from tags
)

select *
from events
where happened_at > {{ current_utc_timestamp() }}
