with

source as (
    select * from {{ source('movielens', 'tag_removals') }}
),

renamed as (
    select
        {{ dbt.hash(dbt.concat([
            "cast(" ~ try_cast_text('source.userid', dbt.type_int()) ~ " as " ~ dbt.type_string() ~ ")", "'|'",
            "cast(" ~ try_cast_text('source.movieid', dbt.type_int()) ~ " as " ~ dbt.type_string() ~ ")", "'|'",
            "trim(source.tag)"
        ])) }} as tag_id,
        {{ try_cast_text('source.userid', dbt.type_int()) }} as user_id,
        {{ try_cast_text('source.movieid', dbt.type_int()) }} as movie_id,
        trim(source.tag) as tag,
        {{ epoch_to_timestamp(try_cast_text('source.timestamp', dbt.type_bigint())) }} as removed_at,
        source.filename as source_file,
        {{ try_cast_text(regex_extract('source.filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
)

select * from renamed
