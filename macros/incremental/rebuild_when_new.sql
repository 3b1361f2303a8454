{#-
    For a table whose every row may change with any new rating (mart_genre_trends: a rating of a
    movie counts in each of its genres; mart_movie_stats: the global mean moves every Bayesian
    average): computed in full when a batch newer than the one it was computed from has reached
    fct_ratings or the movies, and left as it is otherwise, so a re-run with nothing new costs one
    small query. Each row carries that batch (last_batch_id), the same on both kinds of build.
-#}

{#- The newest batch in fct_ratings and the movies, as a scalar subquery. #}
{% macro newest_rating_batch() -%}
    select max(batch_id) from (
        select max(batch_id) as batch_id from {{ ref('fct_ratings') }}
        union all
        select max(batch_id) as batch_id from {{ ref('stg_movielens__movies') }}
    ) as batches
{%- endmacro %}

{#- True on a full build, and on an incremental one when a newer batch has landed. #}
{% macro newer_batch_landed() -%}
    {%- if not is_incremental() -%}
        {{ return(true) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set query -%}
        select count(*) from {{ this }}
        where last_batch_id = ({{ newest_rating_batch() }})
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0] == 0) }}
{%- endmacro %}

{#- Pre-hook: empty the table before it is computed again. #}
{% macro delete_all_when_newer_batch() -%}
    {%- if is_incremental() and newer_batch_landed() -%}
        delete from {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
