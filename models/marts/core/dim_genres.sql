with

genres as (
    select * from {{ ref('seed_genres') }}
),

movie_genres as (
    select * from {{ ref('int_movie_genres_unnested') }}
),

movie_counts as (
    select
        genre_name,
        count(*) as movie_count
    from movie_genres
    group by genre_name
),

final as (
    select
        genres.genre_name,
        genres.genre_group,
        genres.description,
        coalesce(movie_counts.movie_count, 0) as movie_count
    from genres
    left join movie_counts
        on genres.genre_name = movie_counts.genre_name
)

select * from final
