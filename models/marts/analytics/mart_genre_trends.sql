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
    before any join; only the distinct-user count needs the (user, movie, year) rows.
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

genre_users as (
    select
        movie_genres.genre_name,
        extract(year from ratings.rated_at) as rating_year,
        count(distinct ratings.user_id) as distinct_users
    from ratings
    inner join movie_genres
        on ratings.movie_id = movie_genres.movie_id
    group by movie_genres.genre_name, extract(year from ratings.rated_at)
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
