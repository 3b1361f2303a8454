{{
    config(
        materialized='incremental',
        unique_key=['user_id', 'movie_id'],
        on_schema_change='fail',
    )
}}

{#-
    One row per (user, movie): the user's current rating of the movie.

    New deliveries are found by file, not by timestamp: every landing-zone file already merged
    is recorded in source_file, and only files not seen before are read. A late rating (an old
    timestamp in a new file) is therefore still counted.

    Which row wins for a (user, movie) is one rule, applied the same way on a full refresh and on
    an incremental run: the newest rated_at wins (a correction); on equal rated_at the earliest
    delivery wins (a re-delivered copy changes nothing), then the higher rating.
-#}

{%- set processed_files = [] -%}
{%- if is_incremental() and execute -%}
    {%- set processed_files = run_query('select distinct source_file from ' ~ this).columns[0].values() -%}
{%- endif %}

with

ratings as (
    select * from {{ ref('stg_movielens__ratings') }}
    {%- if processed_files | length > 0 %}
        where source_file not in (
            {%- for file in processed_files %}
                '{{ file | replace("'", "''") }}'{{ ',' if not loop.last }}
            {%- endfor %}
        )
    {%- endif %}
),

movies as (
    select
        movie_id,
        first_batch_id
    from {{ ref('stg_movielens__movies') }}
),

valid as (
    -- The validator's rule (macros/contract/raw_value_rules.sql); it lists the rows it leaves out (fct_rejected_rows):
    -- ids positive 32-bit integers, a listed rating, whole epoch seconds (staging keeps only
    -- values written plainly: anything else is null), a movie delivered in this batch or an
    -- earlier one. A second row for a (user, movie) in one file loses in `winners`, as the
    -- validator expects.
    select ratings.*
    from ratings
    inner join movies
        on
            ratings.movie_id = movies.movie_id
            and ratings.batch_id >= movies.first_batch_id
    where
        {{ is_valid_id('ratings.user_id') }}
        and {{ is_valid_id('ratings.movie_id') }}
        and ratings.rating is not null
        and ratings.rated_at is not null
),

{# The winner rule is a sort, and a sort of every row costs more than the rest of the model
    together, while a (user, movie) given more than once is rare: only those keys are sorted. #}
repeated_keys as (
    select
        user_id,
        movie_id
    from valid
    group by user_id, movie_id
    having count(*) > 1
),

single_rows as (
    select valid.*
    from valid
    left join repeated_keys
        on
            valid.user_id = repeated_keys.user_id
            and valid.movie_id = repeated_keys.movie_id
    where repeated_keys.user_id is null
),

repeated_rows as (
    select valid.*
    from valid
    inner join repeated_keys
        on
            valid.user_id = repeated_keys.user_id
            and valid.movie_id = repeated_keys.movie_id
),

repeated_winners as (
    select *
    from repeated_rows
    qualify row_number() over (
            partition by user_id, movie_id
            order by rated_at desc, batch_id asc, source_file asc, rating desc
        ) = 1
),

winners as (
    select * from single_rows
    union all
    select * from repeated_winners
),

{% if is_incremental() %}
{#- Keep a new row only where it beats the row already merged, by the same rule as above. #}
beats_current as (
    select winners.*
    from winners
    left join {{ this }} as current_rating
        on
            winners.user_id = current_rating.user_id
            and winners.movie_id = current_rating.movie_id
    where
        current_rating.user_id is null
        or winners.rated_at > current_rating.rated_at
        or (
            winners.rated_at = current_rating.rated_at
            and (
                winners.batch_id < current_rating.batch_id
                or (winners.batch_id = current_rating.batch_id and winners.source_file < current_rating.source_file)
                or (
                    winners.batch_id = current_rating.batch_id
                    and winners.source_file = current_rating.source_file
                    and winners.rating > current_rating.rating
                )
            )
        )
),
{% else %}
    beats_current as (
        select * from winners
    ),
{% endif %}

final as (
    select
        user_id,
        movie_id,
        rating,
        cast(rated_at as date) as rated_date,
        rated_at,
        source_file,
        batch_id
    from beats_current
)

select * from final
