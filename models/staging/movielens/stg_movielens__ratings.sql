{#- The ratings as they may be written (scripts/validate.py RATINGS). -#}
{%- set ratings = "('0.5', '1', '1.0', '1.5', '2', '2.0', '2.5', '3', '3.0', '3.5', '4', '4.0', '4.5', '5', '5.0')" -%}

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
    differently on each target). The rules of scripts/validate.py, which lists the rows that
    fct_ratings leaves out. #}

renamed as (
    select
        case when cast(user_id as {{ dbt.type_string() }}) = userid then user_id end as user_id,
        case when cast(movie_id as {{ dbt.type_string() }}) = movieid then movie_id end as movie_id,
        case
            when rating in {{ ratings }} then cast(rating as decimal(2, 1))
        end as rating,
        case
            when
                cast(rated_epoch_value as {{ dbt.type_string() }}) = rated_epoch
                and rated_epoch_value between 0 and 9999999999
                then {{ epoch_to_timestamp('rated_epoch_value') }}
        end as rated_at,
        source_file,
        batch_id
    from typed
)

select * from renamed
