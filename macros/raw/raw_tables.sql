{#-
    The raw tables and their columns, in file order, as named in the CSV headers (lowercased).
    One list for both targets: DuckDB's raw views and Snowflake's raw tables have these columns
    plus `filename` (and on Snowflake `file_row_number`, `loaded_at`).
-#}
{% macro raw_tables() %}
    {{ return({
        'movies': ['movieid', 'title', 'genres'],
        'ratings': ['userid', 'movieid', 'rating', 'timestamp'],
        'tags': ['userid', 'movieid', 'tag', 'timestamp'],
        'links': ['movieid', 'imdbid', 'tmdbid'],
        'genome_scores': ['movieid', 'tagid', 'relevance'],
        'genome_tags': ['tagid', 'tag'],
        'tag_removals': ['userid', 'movieid', 'tag', 'timestamp'],
        'rejected_rows': ['table_name', 'source_file', 'line', 'raw_text', 'reason'],
    }) }}
{% endmacro %}

{#- Tables a landing zone may lack entirely: tag_removals only comes with later deliveries,
    rejected_rows (written by scripts/landing/validate.py) only with a delivery that has rejected rows,
    the genome files only with a release that has them (ml-latest-small has none: the genome
    tables and marts are then empty). -#}
{% macro optional_raw_tables() %}
    {{ return(['tag_removals', 'rejected_rows', 'genome_scores', 'genome_tags']) }}
{% endmacro %}
