with

source as (
    select * from {{ source('movielens', 'links') }}
),

renamed as (
    select
        {{ try_cast_text('movieid', dbt.type_int()) }} as movie_id,
        lpad(trim(imdbid), 7, '0') as imdb_id,
        {{ try_cast_text('tmdbid', dbt.type_int()) }} as tmdb_id,
        filename as source_file,
        {{ try_cast_text(regex_extract('filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
),

latest as (
    select *
    from renamed
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
