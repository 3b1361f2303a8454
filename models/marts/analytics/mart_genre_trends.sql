{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_all_when_newer_batch() }}",
    )
}}

{#-
    Ratings per genre and calendar year of the rating. Counts and averages come from
    per-(movie, year) aggregates joined to genres, so the 20 million ratings are grouped once
    before any join. Distinct users too are counted without joining every rating to each of its
    genres: a movie's genres are bits of one integer, a user's genres in a year are the OR of
    those of the movies rated, and each genre then counts the (user, year) rows with its bit set.
    Computed again only when a newer batch has landed (macros/incremental/rebuild_when_new.sql).
-#}
{%- set rebuild = newer_batch_landed() %}
-- depends_on: {{ ref('stg_movielens__movies') }}
with

ratings as (
    select * from {{ ref('fct_ratings') }}
    {%- if not rebuild %}
        where false
    {%- endif %}
),

movie_genres as (
    select * from {{ ref('bridge_movie_genres') }}
    {%- if not rebuild %}
        where false
    {%- endif %}
),

movie_years as (
    select
        movie_id,
        extract(year from rated_at) as rating_year,
        count(*) as rating_count,
        sum(cast(rating as double)) as rating_sum
    from ratings
    group by movie_id, extract(year from rated_at)
),

genre_totals as (
    select
        movie_genres.genre_name,
        movie_years.rating_year,
        sum(movie_years.rating_count) as rating_count,
        sum(movie_years.rating_sum) as rating_sum
    from movie_years
    inner join movie_genres
        on movie_years.movie_id = movie_genres.movie_id
    group by movie_genres.genre_name, movie_years.rating_year
),

genre_bits as (
    -- One bit per genre of a bigint: twenty genres (seed_genres, which the genres are tested
    -- against); a 64th would not fit, and the cast below would fail rather than wrap.
    select
        genre_name,
        cast(power(2, row_number() over (order by genre_name) - 1) as bigint) as genre_bit
    from (select distinct genre_name from movie_genres) as genres
),

movie_genre_masks as (
    select
        movie_genres.movie_id,
        {{ bit_or_agg('genre_bits.genre_bit') }} as genre_mask
    from movie_genres
    inner join genre_bits
        on movie_genres.genre_name = genre_bits.genre_name
    group by movie_genres.movie_id
),

user_year_masks as (
    select
        ratings.user_id,
        extract(year from ratings.rated_at) as rating_year,
        {{ bit_or_agg('movie_genre_masks.genre_mask') }} as genre_mask
    from ratings
    inner join movie_genre_masks
        on ratings.movie_id = movie_genre_masks.movie_id
    group by ratings.user_id, extract(year from ratings.rated_at)
),

genre_users as (
    -- (user, year) is unique in user_year_masks: a count of rows is a count of distinct users.
    select
        genre_bits.genre_name,
        user_year_masks.rating_year,
        count(*) as distinct_users
    from user_year_masks
    inner join genre_bits
        on {{ bit_and('user_year_masks.genre_mask', 'genre_bits.genre_bit') }} != 0
    group by genre_bits.genre_name, user_year_masks.rating_year
),

final as (
    select
        genre_totals.genre_name,
        cast(genre_totals.rating_year as integer) as rating_year,
        cast(genre_totals.rating_count as bigint) as rating_count,
        cast(genre_users.distinct_users as bigint) as distinct_users,
        genre_totals.rating_sum / genre_totals.rating_count as average_rating,
        cast(({{ newest_rating_batch() }}) as integer) as last_batch_id
    from genre_totals
    inner join genre_users
        on
            genre_totals.genre_name = genre_users.genre_name
            and genre_totals.rating_year = genre_users.rating_year
)

select * from final
