-- The benchmark's reference: the same marts as the dbt project, computed by hand in plain DuckDB
-- SQL from the same CSVs, with no dbt. It is the closest thing to this machine's limit:
-- typed CSV reads (no text-then-cast), one pass per file, aggregates before joins.
-- `{root}` is replaced by scripts/bench/run.py with the landing folder.

create or replace table movies as
select
    movieid as movie_id,
    trim(regexp_replace(trim(title), ' *[(]([0-9]{4})([–-]([0-9]{4})?)?[)]$', '')) as title,
    try_cast(nullif(regexp_extract(trim(title), '[(]([0-9]{4})([–-]([0-9]{4})?)?[)]$', 1), '') as integer) as release_year,
    case when genres = '(no genres listed)' then '' else genres end as genres
from read_csv('{root}/movies/*/*.csv', header = true,
    columns = {'movieId': 'integer', 'title': 'varchar', 'genres': 'varchar'});

create or replace table ratings as
select userid as user_id, movieid as movie_id, rating, make_timestamp(timestamp * 1000000) as rated_at
from read_csv('{root}/ratings/*/*.csv', header = true,
    columns = {'userId': 'integer', 'movieId': 'integer', 'rating': 'decimal(2,1)', 'timestamp': 'bigint'});

create or replace table tags as
select userid as user_id, movieid as movie_id, trim(tag) as tag, make_timestamp(timestamp * 1000000) as tagged_at
from read_csv('{root}/tags/*/*.csv', header = true,
    columns = {'userId': 'integer', 'movieId': 'integer', 'tag': 'varchar', 'timestamp': 'bigint'});

create or replace table genome_scores as
select * from read_csv('{root}/genome_scores/*/*.csv', header = true,
    columns = {'movie_id': 'integer', 'genome_tag_id': 'integer', 'relevance': 'double'});

create or replace table genome_tags as
select * from read_csv('{root}/genome_tags/*/*.csv', header = true,
    columns = {'genome_tag_id': 'integer', 'genome_tag': 'varchar'});

create or replace table movie_genres as
select movie_id, unnest(string_split(genres, '|')) as genre_name from movies where genres != '';

create or replace table mart_movie_stats as
with per_movie as (
    select movie_id, count(*) as n, sum(rating::double) as s, avg(rating::double) as a,
        stddev_samp(rating::double) as sd, min(rated_at) as f, max(rated_at) as l
    from ratings group by movie_id
), g as (select avg(rating::double) as m from ratings)
select movies.movie_id, movies.title, movies.release_year, coalesce(n, 0) as rating_count, a as average_rating,
    sd as rating_stddev, (100 * g.m + coalesce(s, 0)) / (100 + coalesce(n, 0)) as bayesian_average_rating,
    f as first_rated_at, l as last_rated_at
from movies cross join g left join per_movie using (movie_id);

create or replace table mart_movie_releases as
select movie_id, title, release_year from movies;

create or replace table mart_genre_trends as
with my as (
    select movie_id, year(rated_at) as y, count(*) as n, sum(rating::double) as s
    from ratings group by all
), totals as (
    select genre_name, y, sum(n) as n, sum(s) as s from my join movie_genres using (movie_id) group by all
), users as (
    select genre_name, year(rated_at) as y, count(distinct user_id) as u
    from ratings join movie_genres using (movie_id) group by all
)
select genre_name, y as rating_year, n as rating_count, s / n as average_rating, u as distinct_users
from totals join users using (genre_name, y);

create or replace table mart_user_activity as
with r as (
    select user_id, date_trunc('month', rated_at)::date as m, count(*) as n, avg(rating::double) as a
    from ratings group by all
), t as (
    select user_id, date_trunc('month', tagged_at)::date as m, count(*) as n from tags group by all
)
select coalesce(r.user_id, t.user_id) as user_id, coalesce(r.m, t.m) as activity_month,
    coalesce(r.n, 0) as rating_count, coalesce(t.n, 0) as tag_count, r.a as average_rating
from r full join t on r.user_id = t.user_id and r.m = t.m;

create or replace table mart_movie_top_tags as
select s.movie_id, row_number() over (partition by s.movie_id order by relevance desc, s.genome_tag_id) as tag_rank,
    s.genome_tag_id, t.genome_tag, s.relevance
from genome_scores as s join genome_tags as t using (genome_tag_id)
qualify tag_rank <= 10;
