{#- One row per (movie, genre): the movie's genre list turned into rows. -#}
with

movies as (
    select * from {{ ref('stg_movielens__movies') }}
),

unnested as (
    select
        movies.movie_id,
        cast(genre.value as {{ dbt.type_string() }}) as genre_name
    from movies, {{ unnest_list('movies.genre_list', 'genre') }}
)

select * from unnested
