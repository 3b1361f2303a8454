-- Every raw tag and tag removal is accounted for: fct_tags takes it in, or the rejects relation
-- (fct_rejected_rows, listed by scripts/validate.py when the file landed) names it. The rows this
-- test finds invalid, by the validator's rules on the raw text, must be exactly the rows listed,
-- per file and reason: one row per (file, problem) where the counts differ.
--
-- The rules (scripts/validate.py says the same, in the same order): an id is a positive 32-bit
-- integer written plainly; the tag is not empty nor only spaces; a timestamp is whole epoch
-- seconds written plainly, at most ten digits; the movie is in a movies.csv of the same or an
-- earlier delivery.
{%- set max_int = 2147483647 %}
{%- set max_epoch = 9999999999 %}
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
            when coalesce(trim(typed.tag), '') = '' then 'tag is empty'
            when
                not coalesce(
                    cast(typed.tagged_epoch_value as {{ dbt.type_string() }}) = typed.tagged_epoch
                    and typed.tagged_epoch_value between 0 and {{ max_epoch }},
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
