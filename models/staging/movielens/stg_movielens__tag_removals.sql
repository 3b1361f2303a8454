{#-
    Every raw tag removal, typed and keyed like stg_movielens__tags (same rules: a value written
    otherwise than plainly, or an empty tag, gives null; fct_tags ignores such removals and the
    validator lists them in fct_rejected_rows).
-#}
with

source as (
    select * from {{ source('movielens', 'tag_removals') }}
),

typed as (
    select
        source.userid,
        source.movieid,
        source.timestamp as removed_epoch,
        {{ try_cast_text('source.userid', dbt.type_int()) }} as user_id,
        {{ try_cast_text('source.movieid', dbt.type_int()) }} as movie_id,
        case when {{ is_nonempty_text('source.tag') }} then trim(source.tag) end as tag,
        {{ try_cast_text('source.timestamp', dbt.type_bigint()) }} as removed_epoch_value,
        source.filename as source_file,
        {{ try_cast_text(regex_extract('source.filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
),

renamed as (
    select
        case when {{ is_written_plainly('user_id', 'userid') }} then user_id end as user_id,
        case when {{ is_written_plainly('movie_id', 'movieid') }} then movie_id end as movie_id,
        tag,
        case
            when
                {{ is_written_plainly('removed_epoch_value', 'removed_epoch') }}
                and {{ is_valid_epoch('removed_epoch_value') }}
                then {{ epoch_to_timestamp('removed_epoch_value') }}
        end as removed_at,
        source_file,
        batch_id
    from typed
),

keyed as (
    select
        {{ dbt.hash(dbt.concat([
            "cast(user_id as " ~ dbt.type_string() ~ ")", "'|'",
            "cast(movie_id as " ~ dbt.type_string() ~ ")", "'|'",
            "tag"
        ])) }} as tag_id,
        user_id,
        movie_id,
        tag,
        removed_at,
        source_file,
        batch_id
    from renamed
)

select * from keyed
