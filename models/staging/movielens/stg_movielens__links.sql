{#-
    IMDb and TMDB ids per movie, from the latest delivery that carries the movie. A row whose
    values are not valid by the validator's rules (a movie id not written plainly, an
    imdbId that is not 1 to 7 digits, a tmdbId that is not a whole number) is left out here, so a
    bad row never hides an earlier good one; the validator lists it in fct_rejected_rows.
    (A link of a movie not yet delivered is left out by dim_movies, which joins on delivery order.)
-#}
with

source as (
    select * from {{ source('movielens', 'links') }}
),

typed as (
    select
        movieid,
        imdbid,
        tmdbid,
        {{ try_cast_text('movieid', dbt.type_int()) }} as movie_id_value,
        filename as source_file,
        {{ try_cast_text(regex_extract('filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
),

valid as (
    select
        movie_id_value as movie_id,
        lpad(imdbid, 7, '0') as imdb_id,
        {{ try_cast_text('tmdbid', dbt.type_int()) }} as tmdb_id,
        source_file,
        batch_id
    from typed
    where
        {{ is_written_plainly('movie_id_value', 'movieid') }}
        and {{ is_valid_id('movie_id_value') }}
        and {{ is_imdb_id('imdbid') }}
        and {{ is_tmdb_id('tmdbid') }}
),

latest as (
    select *
    from valid
    qualify row_number() over (
            partition by movie_id
            order by batch_id desc, source_file desc
        ) = 1
),

final as (
    select
        movie_id,
        imdb_id,
        tmdb_id,
        'https://www.imdb.com/title/tt' || imdb_id || '/' as imdb_url,
        case
            when tmdb_id is not null
                then 'https://www.themoviedb.org/movie/' || cast(tmdb_id as {{ dbt.type_string() }})
        end as tmdb_url,
        source_file,
        batch_id
    from latest
)

select * from final
