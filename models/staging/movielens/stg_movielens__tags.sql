{#-
    Every raw tag row, typed. A value counts only when written plainly (the rule of
    macros/contract/raw_value_rules.sql, as in stg_movielens__ratings): an id or timestamp written otherwise, and
    a tag that is empty or only spaces (quoted or not; real ml-20m has such rows), give null here.
    fct_tags leaves those rows out, and the validator lists them in fct_rejected_rows.
-#}
with

source as (
    select * from {{ source('movielens', 'tags') }}
),

typed as (
    select
        source.userid,
        source.movieid,
        source.timestamp as tagged_epoch,
        {{ try_cast_text('source.userid', dbt.type_int()) }} as user_id,
        {{ try_cast_text('source.movieid', dbt.type_int()) }} as movie_id,
        case when {{ is_nonempty_text('source.tag') }} then trim(source.tag) end as tag,
        {{ try_cast_text('source.timestamp', dbt.type_bigint()) }} as tagged_epoch_value,
        source.filename as source_file,
        {{ try_cast_text(regex_extract('source.filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
),

renamed as (
    select
        case when {{ is_written_plainly('user_id', 'userid') }} then user_id end as user_id,
        case when {{ is_written_plainly('movie_id', 'movieid') }} then movie_id end as movie_id,
        tag,
        lower(tag) as tag_normalized,
        case
            when
                {{ is_written_plainly('tagged_epoch_value', 'tagged_epoch') }}
                and {{ is_valid_epoch('tagged_epoch_value') }}
                then {{ epoch_to_timestamp('tagged_epoch_value') }}
        end as tagged_at,
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
        *
    from renamed
)

select * from keyed
