with

movies as (
    select * from {{ ref('dim_movies') }}
),

final as (
    select
        movie_id,
        title,
        release_year,
        release_date,
        release_date is not null as is_release_date_known
    from movies
)

select * from final
