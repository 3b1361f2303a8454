-- Every raw rating is accounted for: fct_ratings loads it, or the rejects relation
-- (fct_rejected_rows, listed by scripts/validate.py when the file landed) names it. The rows this
-- test finds invalid, by the validator's rules on the raw text, must be exactly the rows listed,
-- per file and reason. It fails on a file that bypassed the validator (invalid rows nobody
-- listed would vanish silently) and on listed rows the rules accept (a row counted twice):
-- one row per (file, problem) with both counts.
--
-- The rules (scripts/validate.py says the same): an id is a positive 32-bit integer written
-- plainly (the text equals the number written back: no sign, space or leading zero); a rating is
-- one of the listed spellings; a timestamp is whole epoch seconds written plainly, at most ten
-- digits; the movie is in a movies.csv of the same or an earlier delivery. The regular expression
-- only runs on ratings that are not valid. A second row for a (user, movie) in one file is listed
-- by the validator and left out by fct_ratings' one-row-per-pair rule; it is not recounted here
-- (a distinct count over every raw rating would add seconds to each build at ml-20m scale).
{%- set max_int = 2147483647 %}
{%- set max_epoch = 9999999999 %}
{%- set ratings = "('0.5', '1', '1.0', '1.5', '2', '2.0', '2.5', '3', '3.0', '3.5', '4', '4.0', '4.5', '5', '5.0')" %}
{%- set a_number = '^([+-]?([0-9]+[.]?[0-9]*|[.][0-9]+))$' %}
{%- set file_key = '([^/]+/batch=[0-9]+/[^/]+)$' %}
{%- set duplicate = 'duplicate (user, movie) in the file: the newest rating is kept, then the higher' %}

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
                    cast(typed.user_id as {{ dbt.type_string() }}) = typed.userid
                    and typed.user_id between 1 and {{ max_int }},
                    false
                )
                then 'user id is not a positive integer'
            when
                not coalesce(
                    cast(typed.movie_id as {{ dbt.type_string() }}) = typed.movieid
                    and typed.movie_id between 1 and {{ max_int }},
                    false
                )
                then 'movie id is not a positive integer'
            when not coalesce(typed.rating in {{ ratings }}, false)
                then
                    case
                        when {{ regex_extract('typed.rating', a_number) }} is null then 'rating is not a number'
                        else 'rating is not one of 0.5, 1.0, 1.5 ... 5.0'
                    end
            when
                not coalesce(
                    cast(typed.rated_epoch_value as {{ dbt.type_string() }}) = typed.rated_epoch
                    and typed.rated_epoch_value between 0 and {{ max_epoch }},
                    false
                )
                then 'timestamp is not whole epoch seconds'
            when movies.movie_id is null then 'movie id is in no movies.csv of this or an earlier delivery'
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
        and reason != '{{ duplicate }}'
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
