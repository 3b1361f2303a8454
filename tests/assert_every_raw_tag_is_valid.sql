-- Every raw tag and tag removal is accounted for: fct_tags takes it in, or the rejects relation
-- (fct_rejected_rows, listed by the validator when the file landed) names it. The rows this
-- test finds invalid, by the validator's rules on the raw text, must be exactly the rows listed,
-- per file and reason: one row per (file, problem) where the counts differ.
--
-- The rules are macros/contract/raw_value_rules.sql (the validator's, scripts/contract.py), in the
-- validator's order; the movie is in a movies.csv of the same or an earlier delivery.
{%- set file_key = '([^/]+/batch=[0-9]+/[^/]+)$' %}

with

raw_rows as (
    select
        'tags' as table_name,
        raw_tags.userid,
        raw_tags.movieid,
        raw_tags.tag,
        raw_tags.timestamp as tagged_epoch,
        raw_tags.filename as source_file
    from {{ source('movielens', 'tags') }} as raw_tags
    union all
    select
        'tag_removals' as table_name,
        raw_removals.userid,
        raw_removals.movieid,
        raw_removals.tag,
        raw_removals.timestamp as tagged_epoch,
        raw_removals.filename as source_file
    from {{ source('movielens', 'tag_removals') }} as raw_removals
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

typed as (
    select
        table_name,
        source_file,
        userid,
        movieid,
        tag,
        tagged_epoch,
        {{ try_cast_text('userid', dbt.type_bigint()) }} as user_id,
        {{ try_cast_text('movieid', dbt.type_bigint()) }} as movie_id,
        {{ try_cast_text('tagged_epoch', dbt.type_bigint()) }} as tagged_epoch_value,
        {{ try_cast_text(regex_extract('source_file', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from raw_rows
),

checked as (
    select
        typed.table_name,
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
            when not coalesce({{ is_nonempty_text('typed.tag') }}, false) then '{{ raw_reason("empty_tag") }}'
            when
                not coalesce(
                    {{ is_written_plainly('typed.tagged_epoch_value', 'typed.tagged_epoch') }}
                    and {{ is_valid_epoch('typed.tagged_epoch_value') }},
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
        table_name,
        source_file,
        problem,
        count(*) as invalid_rows
    from checked
    where problem is not null
    group by table_name, source_file, problem
),

listed as (
    select
        table_name,
        source_file,
        reason as problem,
        count(*) as listed_rows
    from {{ ref('fct_rejected_rows') }}
    where table_name in ('tags', 'tag_removals')
    group by table_name, source_file, reason
),

compared as (
    -- Files are matched on <table>/batch=NNNN/<file>, as in assert_every_raw_rating_is_valid.
    select
        coalesce(invalid.table_name, listed.table_name) as table_name,
        coalesce(invalid.source_file, listed.source_file) as source_file,
        coalesce(invalid.problem, listed.problem) as problem,
        coalesce(invalid.invalid_rows, 0) as invalid_rows,
        coalesce(listed.listed_rows, 0) as listed_in_rejects
    from invalid
    full outer join listed
        on
            invalid.table_name = listed.table_name
            and {{ regex_extract('invalid.source_file', file_key) }}
            = {{ regex_extract('listed.source_file', file_key) }}
            and invalid.problem = listed.problem
)

select *
from compared
where invalid_rows != listed_in_rejects
