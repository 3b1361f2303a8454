{#-
    The validity rules of the raw values, stated once for the staging models, the facts' filters
    and the assert_every_raw_*_is_valid tests. The validator states the same rules in
    scripts/contract.py; tests/test_contract.py checks that the two agree, value by value.
    A number counts only when written plainly: its text equals the number cast back to text
    (no sign, space, decimal point or leading zero).
-#}

{% macro raw_rule(name) %}
    {{ return({
        'max_int': 2147483647,
        'max_epoch': 9999999999,
        'ratings': ['0.5', '1', '1.0', '1.5', '2', '2.0', '2.5', '3', '3.0', '3.5', '4', '4.0', '4.5', '5', '5.0'],
        'a_number': '[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)',
        'imdb_id': '[0-9]{1,7}',
        'tmdb_id': '[0-9]+',
    }[name]) }}
{% endmacro %}

{#- Why a row is left out, word for word as the validator lists it in fct_rejected_rows. -#}
{% macro raw_reason(name) %}
    {{ return({
        'user_id': 'user id is not a positive integer',
        'movie_id': 'movie id is not a positive integer',
        'not_a_number': 'rating is not a number',
        'not_half_stars': 'rating is not one of 0.5, 1.0, 1.5 ... 5.0',
        'bad_timestamp': 'timestamp is not whole epoch seconds',
        'unknown_movie': 'movie id is in no movies.csv of this or an earlier delivery',
        'duplicate_pair': 'duplicate (user, movie) in the file: the newest rating is kept, then the higher',
        'empty_tag': 'tag is empty',
        'bad_imdb_id': 'imdbId is not 1 to 7 digits',
        'bad_tmdb_id': 'tmdbId is not a whole number',
    }[name]) }}
{% endmacro %}

{% macro is_written_plainly(value, text) -%}
    cast({{ value }} as {{ dbt.type_string() }}) = {{ text }}
{%- endmacro %}

{% macro is_valid_id(value) -%}
    {{ value }} between 1 and {{ raw_rule('max_int') }}
{%- endmacro %}

{% macro is_valid_epoch(value) -%}
    {{ value }} between 0 and {{ raw_rule('max_epoch') }}
{%- endmacro %}

{% macro is_listed_rating(text) -%}
    {{ text }} in ('{{ raw_rule('ratings') | join("', '") }}')
{%- endmacro %}

{% macro is_a_number(text) -%}
    {{ regex_extract(text, '^(' ~ raw_rule('a_number') ~ ')$') }} is not null
{%- endmacro %}

{% macro is_imdb_id(text) -%}
    {{ regex_extract(text, '^(' ~ raw_rule('imdb_id') ~ ')$') }} is not null
{%- endmacro %}

{% macro is_tmdb_id(text) -%}
    ({{ text }} is null or {{ regex_extract(text, '^(' ~ raw_rule('tmdb_id') ~ ')$') }} is not null)
{%- endmacro %}

{% macro is_nonempty_text(text) -%}
    trim({{ text }}) != ''
{%- endmacro %}
