-- Every raw link is accounted for: stg_movielens__links and dim_movies take it in, or the rejects
-- relation (fct_rejected_rows, listed by scripts/validate.py when the file landed) names it. The
-- rows this test finds invalid, by the validator's rules on the raw text, must be exactly the rows
-- listed, per file and reason: one row per (file, problem) where the counts differ.
--
-- The rules (scripts/validate.py says the same, in the same order): the movie id is a positive
-- 32-bit integer written plainly; imdbId is 1 to 7 digits; tmdbId is empty or a whole number; the
-- movie is in a movies.csv of the same or an earlier delivery.
{%- set file_key = '([^/]+/batch=[0-9]+/[^/]+)$' %}

with

raw_links as (
    select
        links.movieid,
        links.imdbid,
        links.tmdbid,
        links.filename as source_file,
        {{ try_cast_text('links.movieid', dbt.type_bigint()) }} as movie_id,
        {{ try_cast_text(regex_extract('links.filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from {{ source('movielens', 'links') }} as links
),

movie_batches as (
    select
        {{ try_cast_text('raw_movies.movieid', dbt.type_bigint()) }} as movie_id,
        {{ try_cast_text(regex_extract('raw_movies.filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from {{ source('movielens', 'movies') }} as raw_movies
),

movies as (
    select
        movie_id,
        min(batch_id) as first_batch_id
    from movie_batches
    group by movie_id
),

checked as (
    select
        raw_links.source_file,
        case
            when
                not coalesce(
                    cast(raw_links.movie_id as {{ dbt.type_string() }}) = raw_links.movieid
                    and raw_links.movie_id between 1 and 2147483647,
                    false
                )
                then 'movie id is not a positive integer'
            when {{ regex_extract('raw_links.imdbid', '^([0-9]{1,7})$') }} is null
                then 'imdbId is not 1 to 7 digits'
            when raw_links.tmdbid is not null and {{ regex_extract('raw_links.tmdbid', '^([0-9]+)$') }} is null
                then 'tmdbId is not a whole number'
            when movies.movie_id is null then 'movie id is in no movies.csv of this or an earlier delivery'
        end as problem
    from raw_links
    left join movies
        on
            raw_links.movie_id = movies.movie_id
            and raw_links.batch_id >= movies.first_batch_id
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
    where table_name = 'links'
    group by source_file, reason
),

compared as (
    -- Files are matched on <table>/batch=NNNN/<file>, as in assert_every_raw_rating_is_valid.
    select
        coalesce(invalid.source_file, listed.source_file) as source_file,
        coalesce(invalid.problem, listed.problem) as problem,
        coalesce(invalid.invalid_rows, 0) as invalid_rows,
        coalesce(listed.listed_rows, 0) as listed_in_rejects
    from invalid
    full outer join listed
        on
            {{ regex_extract('invalid.source_file', file_key) }}
            = {{ regex_extract('listed.source_file', file_key) }}
            and invalid.problem = listed.problem
)

select *
from compared
where invalid_rows != listed_in_rejects
