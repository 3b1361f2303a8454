-- Every raw rating is accounted for: fct_ratings loads it, or the rejects relation
-- (fct_rejected_rows, listed by the validator when the file landed) names it. The rows this
-- test finds invalid, by the validator's rules on the raw text, must be exactly the rows listed,
-- per file and reason. It fails on a file that bypassed the validator (invalid rows nobody
-- listed would vanish silently) and on listed rows the rules accept (a row counted twice):
-- one row per (file, problem) with both counts.
--
-- The rules are macros/contract/raw_value_rules.sql (the validator's, scripts/contract.py), in the
-- validator's order; the movie is in a movies.csv of the same or an earlier delivery. A second row
-- for a (user, movie) in one file is listed by the validator and left out by fct_ratings'
-- one-row-per-pair rule; it is not recounted here (a distinct count over every raw rating would
-- add seconds to each build at ml-20m scale).
{%- set file_key = '([^/]+/batch=[0-9]+/[^/]+)$' %}

with

ratings as (
    select
        raw_ratings.userid,
        raw_ratings.movieid,
        raw_ratings.rating,
        raw_ratings.timestamp as rated_epoch,
        raw_ratings.filename as source_file,
        {{ try_cast_text(regex_extract('raw_ratings.filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from {{ source('movielens', 'ratings') }} as raw_ratings
    -- Only the files of batches no passing test run has checked (every file on a full refresh).
    where {{ raw_files_to_test('raw_ratings.filename', 'ratings') }}
),

movie_batches as (
    select
        {{ try_cast_text('raw_movies.movieid', dbt.type_bigint()) }} as movie_id,
        {{ try_cast_text(regex_extract('raw_movies.filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from {{ source('movielens', 'movies') }} as raw_movies
),

movies as (
    -- A movie is known to the ratings of its first delivery and of every later one.
    select
        movie_id,
        min(batch_id) as first_batch_id
    from movie_batches
    group by movie_id
),

typed as (
    select
        source_file,
        batch_id,
        userid,
        movieid,
        rating,
        rated_epoch,
        {{ try_cast_text('userid', dbt.type_bigint()) }} as user_id,
        {{ try_cast_text('movieid', dbt.type_bigint()) }} as movie_id,
        {{ try_cast_text('rated_epoch', dbt.type_bigint()) }} as rated_epoch_value
    from ratings
),

checked as (
    select
        typed.source_file,
        case
            when
                not coalesce(
                    {{ is_written_plainly('typed.user_id', 'typed.userid') }}
                    and {{ is_valid_id('typed.user_id') }},
                    false
                )
                then '{{ raw_reason("user_id") }}'
            when
                not coalesce(
                    {{ is_written_plainly('typed.movie_id', 'typed.movieid') }}
                    and {{ is_valid_id('typed.movie_id') }},
                    false
                )
                then '{{ raw_reason("movie_id") }}'
            when not coalesce({{ is_listed_rating('typed.rating') }}, false)
                then
                    case
                        when not {{ is_a_number('typed.rating') }} then '{{ raw_reason("not_a_number") }}'
                        else '{{ raw_reason("not_half_stars") }}'
                    end
            when
                not coalesce(
                    {{ is_written_plainly('typed.rated_epoch_value', 'typed.rated_epoch') }}
                    and {{ is_valid_epoch('typed.rated_epoch_value') }},
                    false
                )
                then '{{ raw_reason("bad_timestamp") }}'
            when movies.movie_id is null then '{{ raw_reason("unknown_movie") }}'
        end as problem
    from typed
    left join movies
        on
            typed.movie_id = movies.movie_id
            and typed.batch_id >= movies.first_batch_id
),

invalid as (
    select
        source_file,
        problem,
        count(*) as invalid_rows
    from checked
    where problem is not null
    group by source_file, problem
),

listed as (
    select
        source_file,
        reason as problem,
        count(*) as listed_rows
    from {{ ref('fct_rejected_rows') }}
    where
        table_name = 'ratings'
        and reason != '{{ raw_reason("duplicate_pair") }}'
        and batch_id > {{ tested_through_batch() }}
    group by source_file, reason
),

compared as (
    -- Files are matched on <table>/batch=NNNN/<file>, so a landing zone read through another path
    -- (a relative folder, a mirror) still matches the URLs the validator wrote.
    select
        coalesce(invalid.source_file, listed.source_file) as source_file,
        coalesce(invalid.problem, listed.problem) as problem,
        coalesce(invalid.invalid_rows, 0) as invalid_rows,
        coalesce(listed.listed_rows, 0) as listed_in_rejects
    from invalid
    full outer join listed
        on
            {{ regex_extract('invalid.source_file', file_key) }} = {{ regex_extract('listed.source_file', file_key) }}
            and invalid.problem = listed.problem
)

select *
from compared
where invalid_rows != listed_in_rejects
