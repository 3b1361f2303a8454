with

source as (
    select * from {{ source('movielens', 'rejected_rows') }}
),

renamed as (
    select
        table_name,
        source_file,
        {{ try_cast_text('line', dbt.type_int()) }} as line_number,
        raw_text,
        reason,
        filename as rejects_file,
        {{ try_cast_text(regex_extract('filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
)

select * from renamed
