-- Genome relevance is a score in [0, 1], and every genome movie has a score for every genome tag.
with

scores as (
    select * from {{ ref('fct_genome_scores') }}
    -- Only the movies of batches no passing test run has checked (every movie on a full refresh).
    {%- if tested_through_batch() >= 0 %}
        where movie_id in (
            select movie_id from {{ ref('fct_genome_scores') }}
            where batch_id > {{ tested_through_batch() }}
        )
    {%- endif %}
),

tag_count as (
    select count(*) as genome_tags from {{ ref('dim_genome_tags') }}
),

out_of_range as (
    select
        movie_id,
        'relevance outside [0, 1]' as problem
    from scores
    where relevance < 0 or relevance > 1
),

incomplete as (
    select
        scores.movie_id,
        'movie lacks scores for some genome tags' as problem
    from scores
    cross join tag_count
    group by scores.movie_id, tag_count.genome_tags
    having count(*) != tag_count.genome_tags
)

select * from out_of_range
union all
select * from incomplete
