{#- One row per (movie, genre): the movie's genre list turned into rows. -#}
with

movies as (
    select * from {{ ref('stg_movielens__movies') }}
),

genre_lists as (
    select
        movie_id,
        {{ split_to_list('genres', '|') }} as genre_list
    from movies
),

unnested as (
    select
        genre_lists.movie_id,
        cast(genre.value as {{ dbt.type_string() }}) as genre_name
    from genre_lists, {{ unnest_list('genre_lists.genre_list', 'genre') }}
)

select * from unnested
