{#-
    Title anatomy in ml-20m: "<name>[, <article>][ (<alternate name>)] (<year>[–<year>])[ ]".
    The year is optional, can be a range, and can be followed by spaces.
-#}
{%- set year_suffix = ' *[(]([0-9]{4})([–-]([0-9]{4})?)?[)]$' -%}
{%- set moved_article = '^(.+), (The|A|An|Les|La|Le|Il|El|Los|Las|Das|Der|Die|Den|Det|Un|Une|Una)( [(].*[)])?$' -%}

with

source as (
    select * from {{ source('movielens', 'movies') }}
),

typed as (
    select
        {{ try_cast_text('movieid', dbt.type_int()) }} as movie_id,
        trim(title) as title_as_published,
        genres as genres_raw,
        filename as source_file,
        {{ try_cast_text(regex_extract('filename', 'batch=([0-9]+)'), dbt.type_int()) }} as batch_id
    from source
),

{#- A later delivery of a movie (a corrected title or genres) replaces the earlier one. #}

latest as (
    select
        *,
        min(batch_id) over (partition by movie_id) as first_batch_id
    from typed
    qualify row_number() over (
            partition by movie_id
            order by batch_id desc, source_file desc
        ) = 1
),

parsed as (
    select
        movie_id,
        title_as_published,
        trim(regexp_replace(title_as_published, '{{ year_suffix }}', '')) as title,
        {{ try_cast_text(regex_extract('title_as_published', year_suffix, 1), dbt.type_int()) }} as release_year,
        {{ try_cast_text(regex_extract('title_as_published', year_suffix, 3), dbt.type_int()) }} as release_year_end,
        case
            when genres_raw = '(no genres listed)' then ''
            else coalesce(genres_raw, '')
        end as genres,
        source_file,
        batch_id,
        first_batch_id
    from latest
),

final as (
    select
        movie_id,
        title,
        coalesce(
            {{ regex_extract('title', moved_article, 2) }}
            || ' ' || {{ regex_extract('title', moved_article, 1) }}
            || coalesce({{ regex_extract('title', moved_article, 3) }}, ''),
            title
        ) as display_title,
        title_as_published,
        genres,
        {{ split_to_list('genres', '|') }} as genre_list,
        release_year,
        release_year_end,
        source_file,
        batch_id,
        first_batch_id
    from parsed
)

select * from final
