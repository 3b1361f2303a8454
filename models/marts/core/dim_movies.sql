with

movies as (
    select * from {{ ref('stg_movielens__movies') }}
),

links as (
    select * from {{ ref('stg_movielens__links') }}
),

release_dates as (
    select * from {{ ref('seed_movie_release_dates') }}
),

joined as (
    select
        movies.movie_id,
        links.imdb_id,
        links.tmdb_id,
        movies.title,
        movies.display_title,
        movies.title_as_published,
        movies.genres,
        links.imdb_url,
        links.tmdb_url,
        {{ list_size('movies.genre_list') }} as genre_count,
        movies.release_year,
        movies.release_year_end,
        release_dates.release_date
    from movies
    left join links
        -- A link delivered before its movie was rejected (scripts/landing/validate.py): not joined.
        on
            movies.movie_id = links.movie_id
            and movies.first_batch_id <= links.batch_id
    left join release_dates
        on movies.movie_id = release_dates.movie_id
)

select * from joined
