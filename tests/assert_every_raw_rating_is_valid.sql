-- Ratings that fct_ratings cannot accept (an id or timestamp that does not parse, a rating
-- outside 0.5-5.0 in half steps, a movie id not in movies.csv) must not vanish silently:
-- this test fails, per landing-zone file, with the count of such rows and one example.
with

ratings as (
    select * from {{ ref('stg_movielens__ratings') }}
),

movies as (
    select movie_id from {{ ref('stg_movielens__movies') }}
),

checked as (
    select
        ratings.source_file,
        ratings.user_id,
        ratings.movie_id,
        ratings.rating,
        case
            when ratings.user_id is null or ratings.user_id <= 0 then 'user id is not a positive integer'
            when ratings.movie_id is null or ratings.movie_id <= 0 then 'movie id is not a positive integer'
            when ratings.rating is null then 'rating is not a number'
            when ratings.rating < 0.5 or ratings.rating > 5 or ratings.rating * 2 != floor(ratings.rating * 2)
                then 'rating outside 0.5-5.0 in half steps'
            when ratings.rated_at is null then 'timestamp is not epoch seconds'
            when movies.movie_id is null then 'movie id not in movies.csv'
        end as problem
    from ratings
    left join movies
        on ratings.movie_id = movies.movie_id
)

select
    source_file,
    problem,
    count(*) as invalid_rows,
    min(user_id) as example_user_id,
    min(movie_id) as example_movie_id
from checked
where problem is not null
group by source_file, problem
