with

movie_genres as (
    select * from {{ ref('int_movie_genres_unnested') }}
),

final as (
    select distinct
        movie_id,
        genre_name
    from movie_genres
)

select * from final
