with

source as (
    select * from {{ source('movielens', 'ratings') }}
),

renamed as (
    select
        {{ try_cast_text('userid', dbt.type_int()) }} as user_id,
        {{ try_cast_text('movieid', dbt.type_int()) }} as movie_id,
        {{ try_cast_text('rating', 'decimal(2, 1)') }} as rating,
        {{ epoch_to_timestamp(try_cast_text('source.timestamp', dbt.type_bigint())) }} as rated_at,
        source.filename as source_file,
        {{ try_cast_text(regex_extract('filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
)

select * from renamed
