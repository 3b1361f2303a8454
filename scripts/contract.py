"""The raw files and their validity rules, stated once.

The validator, uploader, generator, deliverer and download read the raw files from RAW_FILES;
the sources YAML (models/staging/movielens/_movielens__sources.yml: columns, `meta.file`,
`meta.optional`, `meta.genome`) and macros/raw/raw_tables.sql say the same, and
tests/test_contract.py checks both against this module. The rules below are the validator's
(scripts/landing/validate.py writes them as DuckDB SQL); macros/contract/valid_values.sql writes
them for the models and the singular tests, and tests/test_contract.py checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawFile:
    table: str
    file: str
    header: tuple[str, ...]  # the exact ml-20m header, in file order
    optional: bool = False  # a first delivery may lack it
    genome: bool = False  # the genome pair: both or neither (ml-latest-small has none)
    delivered: bool = True  # False: written by the validator beside a delivery


RAW_FILES = (
    RawFile("movies", "movies.csv", ("movieId", "title", "genres")),
    RawFile("ratings", "ratings.csv", ("userId", "movieId", "rating", "timestamp")),
    RawFile("tags", "tags.csv", ("userId", "movieId", "tag", "timestamp")),
    RawFile("links", "links.csv", ("movieId", "imdbId", "tmdbId")),
    RawFile("genome_scores", "genome-scores.csv", ("movieId", "tagId", "relevance"), genome=True),
    RawFile("genome_tags", "genome-tags.csv", ("tagId", "tag"), genome=True),
    # Not part of ml-20m: a later delivery may withdraw tags (scripts/dataset/deliver.py).
    RawFile("tag_removals", "tag-removals.csv", ("userId", "movieId", "tag", "timestamp"), optional=True),
    RawFile(
        "rejected_rows",
        "rejected-rows.csv",
        ("table_name", "source_file", "line", "raw_text", "reason"),
        optional=True,
        delivered=False,
    ),
)
RAW = {raw.table: raw for raw in RAW_FILES}
FILES = {raw.table: raw.file for raw in RAW_FILES}  # table -> file name, every raw table
DELIVERED = {raw.table: raw.file for raw in RAW_FILES if raw.delivered}  # what a delivery may hold
ML20M = tuple(raw.file for raw in RAW_FILES if raw.delivered and not raw.optional)  # the six ml-20m files
OPTIONAL_TABLES = {raw.table for raw in RAW_FILES if raw.optional}
GENOME_TABLES = tuple(raw.table for raw in RAW_FILES if raw.genome)
REJECTS_TABLE = "rejected_rows"

# --- validity rules ----------------------------------------------------------------------------
# A value counts when it is written exactly as the number written back (no sign, space, decimal
# point or leading zero): ids are positive 32-bit integers (dbt.type_int() on DuckDB),
# timestamps whole epoch seconds of at most ten digits, ratings one of these spellings.
MAX_INT = 2_147_483_647
MAX_EPOCH = 9_999_999_999
RATINGS = ("0.5", "1", "1.0", "1.5", "2", "2.0", "2.5", "3", "3.0", "3.5", "4", "4.0", "4.5", "5", "5.0")
A_NUMBER = "[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)"  # what counts as a number for the first rating reason
IMDB_ID = "[0-9]{1,7}"
TMDB_ID = "[0-9]+"

# The reasons a row is rejected, word for word in fct_rejected_rows and the singular tests.
USER_ID = "user id is not a positive integer"
MOVIE_ID = "movie id is not a positive integer"
TAG_ID = "tag id is not a positive integer"
NOT_A_NUMBER = "rating is not a number"
NOT_HALF_STARS = "rating is not one of 0.5, 1.0, 1.5 ... 5.0"
BAD_TIMESTAMP = "timestamp is not whole epoch seconds"
UNKNOWN_MOVIE = "movie id is in no movies.csv of this or an earlier delivery"
DUPLICATE_PAIR = "duplicate (user, movie) in the file: the newest rating is kept, then the higher"
EMPTY_TAG = "tag is empty"
BAD_IMDB_ID = "imdbId is not 1 to 7 digits"
BAD_TMDB_ID = "tmdbId is not a whole number"
