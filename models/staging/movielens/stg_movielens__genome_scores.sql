with

source as (
    select * from {{ source('movielens', 'genome_scores') }}
),

renamed as (
    select
        {{ try_cast_text('movieid', dbt.type_int()) }} as movie_id,
        {{ try_cast_text('tagid', dbt.type_int()) }} as genome_tag_id,
        {{ try_cast_text('relevance', 'double') }} as relevance,
        filename as source_file
    from source
)

select * from renamed
