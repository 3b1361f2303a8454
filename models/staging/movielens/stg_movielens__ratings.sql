with

source as (
    select * from {{ source('movielens', 'ratings') }}
),

typed as (
    select
        source.userid,
        source.movieid,
        source.rating,
        source.timestamp as rated_epoch,
        {{ try_cast_text('source.userid', dbt.type_int()) }} as user_id,
        {{ try_cast_text('source.movieid', dbt.type_int()) }} as movie_id,
        {{ try_cast_text('source.timestamp', dbt.type_bigint()) }} as rated_epoch_value,
        source.filename as source_file,
        {{ try_cast_text(regex_extract('source.filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
),

{#- A value counts only when it is written plainly, as the number written back: '1.5', '0x10',
    ' 12' or '1e9' give null here instead of being rounded or parsed (try_cast alone would, and
    differently on each target). The rules of macros/contract/raw_value_rules.sql (the validator's), which lists the rows that
    fct_ratings leaves out. #}

renamed as (
    select
        case when {{ is_written_plainly('user_id', 'userid') }} then user_id end as user_id,
        case when {{ is_written_plainly('movie_id', 'movieid') }} then movie_id end as movie_id,
        case
            when {{ is_listed_rating('rating') }} then cast(rating as decimal(2, 1))
        end as rating,
        case
            when
                {{ is_written_plainly('rated_epoch_value', 'rated_epoch') }}
                and {{ is_valid_epoch('rated_epoch_value') }}
                then {{ epoch_to_timestamp('rated_epoch_value') }}
        end as rated_at,
        source_file,
        batch_id
    from typed
)

select * from renamed
