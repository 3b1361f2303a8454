-- Every raw link is accounted for: stg_movielens__links and dim_movies take it in, or the rejects
-- relation (fct_rejected_rows, listed by the validator when the file landed) names it. The
-- rows this test finds invalid, by the validator's rules on the raw text, must be exactly the rows
-- listed, per file and reason: one row per (file, problem) where the counts differ.
--
-- The rules are macros/contract/raw_value_rules.sql (the validator's, scripts/contract.py), in the
-- validator's order; the movie is in a movies.csv of the same or an earlier delivery.
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
                    {{ is_written_plainly('raw_links.movie_id', 'raw_links.movieid') }}
                    and {{ is_valid_id('raw_links.movie_id') }},
                    false
                )
                then '{{ raw_reason("movie_id") }}'
            when not {{ is_imdb_id('raw_links.imdbid') }}
                then '{{ raw_reason("bad_imdb_id") }}'
            when not {{ is_tmdb_id('raw_links.tmdbid') }}
                then '{{ raw_reason("bad_tmdb_id") }}'
            when movies.movie_id is null then '{{ raw_reason("unknown_movie") }}'
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
