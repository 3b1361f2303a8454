with

source as (
    select * from {{ source('movielens', 'genome_tags') }}
),

renamed as (
    select
        {{ try_cast_text('tagid', dbt.type_int()) }} as genome_tag_id,
        trim(tag) as genome_tag,
        filename as source_file
    from source
)

select * from renamed
