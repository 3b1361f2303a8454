with

source as (
    select * from {{ source('movielens', 'tags') }}
),

renamed as (
    select
        {{ try_cast_text('userid', dbt.type_int()) }} as user_id,
        {{ try_cast_text('movieid', dbt.type_int()) }} as movie_id,
        trim(tag) as tag,
        lower(trim(tag)) as tag_normalized,
        {{ epoch_to_timestamp(try_cast_text('source.timestamp', dbt.type_bigint())) }} as tagged_at,
        source.filename as source_file,
        {{ try_cast_text(regex_extract('filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
),

keyed as (
    select
        {{ dbt.hash(dbt.concat([
            "cast(user_id as " ~ dbt.type_string() ~ ")", "'|'",
            "cast(movie_id as " ~ dbt.type_string() ~ ")", "'|'",
            "tag"
        ])) }} as tag_id,
        *
    from renamed
)

select * from keyed
