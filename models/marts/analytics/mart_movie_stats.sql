{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_all_when_newer_batch() }}",
    )
}}

{#-
    Rating statistics per movie. The Bayesian average pulls each movie's mean towards the
    global mean with the weight of `bayes_min_ratings` ratings:
        (C * m + sum of ratings) / (C + n)
    so one 5-star rating does not put an obscure movie at the top.
    Computed again only when a newer batch has landed (macros/incremental/rebuild_when_new.sql).
-#}
{%- set rebuild = newer_batch_landed() %}
{%- set prior_weight = var('bayes_min_ratings') -%}

-- depends_on: {{ ref('stg_movielens__movies') }}
with

movies as (
    select * from {{ ref('dim_movies') }}
    {%- if not rebuild %}
        where false
    {%- endif %}
),

ratings as (
    select * from {{ ref('fct_ratings') }}
    {%- if not rebuild %}
        where false
    {%- endif %}
),

per_movie as (
    select
        movie_id,
        count(*) as rating_count,
        sum(cast(rating as double)) as rating_sum,
        avg(cast(rating as double)) as average_rating,
        stddev_samp(cast(rating as double)) as rating_stddev,
        min(rated_at) as first_rated_at,
        max(rated_at) as last_rated_at
    from ratings
    group by movie_id
),

global_mean as (
    select avg(cast(rating as double)) as mean_rating from ratings
),

final as (
    select
        movies.movie_id,
        movies.title,
        movies.release_year,
        cast(coalesce(per_movie.rating_count, 0) as bigint) as rating_count,
        per_movie.average_rating,
        per_movie.rating_stddev,
        (
            {{ prior_weight }} * global_mean.mean_rating + coalesce(per_movie.rating_sum, 0)
        ) / ({{ prior_weight }} + coalesce(per_movie.rating_count, 0)) as bayesian_average_rating,
        per_movie.first_rated_at,
        per_movie.last_rated_at,
        cast(({{ newest_rating_batch() }}) as integer) as last_batch_id
    from movies
    cross join global_mean
    left join per_movie
        on movies.movie_id = per_movie.movie_id
)

select * from final
