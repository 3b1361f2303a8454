{#-
    The rejects relation: one row per delivered row the warehouse leaves out, with the file, the
    line, the row as delivered and the reason. scripts/landing/validate.py writes them when a delivery
    lands (rejected_rows/batch=NNNN/rejected-rows.csv); fct_ratings leaves out the same rows by
    the same rule, so for every delivered file: rows in the file = rows loaded + rows here
    (tests/assert_every_raw_rating_is_valid.sql checks it on every build).
-#}
with

rejected_rows as (
    select * from {{ ref('stg_movielens__rejected_rows') }}
),

final as (
    select
        source_file,
        line_number,
        table_name,
        raw_text,
        reason,
        batch_id,
        rejects_file
    from rejected_rows
)

select * from final
