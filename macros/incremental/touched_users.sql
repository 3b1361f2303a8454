{#-
    Incremental by user (dim_users, mart_user_activity): a run recomputes every row of each user
    that a batch newer than `this` has counted touches (a new or corrected rating, a new tag, a
    withdrawn tag), and nothing else. A user's rows are deleted first (pre-hook) and their rows
    recomputed from the facts are appended, so a user left with no rating and no tag disappears,
    as on a full refresh. The key, user_id, is the same before and after a correction, which may
    move a rating to another month: both months are recomputed.
-#}

{#- The newest batch counted in `this` (its last_batch_id), -1 on a full build. Read before the
    pre-hook deletes anything: the model's SQL is compiled before its hooks run. #}
{% macro counted_through_batch() -%}
    {%- if not (is_incremental() and execute) -%}
        {{ return(-1) }}
    {%- endif -%}
    {%- set newest = run_query('select max(last_batch_id) from ' ~ this).columns[0].values()[0] -%}
    {{ return(-1 if newest is none else newest) }}
{%- endmacro %}

{% macro touched_users(since) -%}
    select user_id from {{ ref('fct_ratings') }} where batch_id > {{ since }}
    union
    select user_id from {{ ref('fct_tags') }} where batch_id > {{ since }}
    union
    select user_id from {{ ref('stg_movielens__tag_removals') }} where batch_id > {{ since }}
{%- endmacro %}

{% macro delete_touched_users() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where user_id in ({{ touched_users(counted_through_batch()) }})
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
