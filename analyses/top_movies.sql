-- The best-rated movies among those with more than 100 ratings, by Bayesian average.
-- Compile with `dbt compile --select top_movies` and run the SQL in target/compiled/.
with

movie_stats as (
    select * from {{ ref('mart_movie_stats') }}
)

select
    movie_id,
    title,
    release_year,
    rating_count,
    average_rating,
    bayesian_average_rating
from movie_stats
where rating_count > 100
order by bayesian_average_rating desc, movie_id asc
limit 25
