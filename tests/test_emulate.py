"""`make emulate` (scripts/tools/emulate.py) on a delivery of hostile bytes copied straight into the bucket.

The tiny generated dataset is rewritten with what real exports contain and Snowflake's defaults
misread: backslashes (`C:\\path\\`, a trailing one), `\\N`, a quoted empty string, emoji, CRLF line
endings, blank lines (in the middle and at the end). Landed without the validator, it must give the
same values in every core and analytics table on DuckDB and on the Snowflake emulator. A row with an
extra value must stop both targets on the same file and line.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from scripts.cli import run
from scripts.dataset import generate as gen
from scripts.tools import emulate

SCALE = 0.001
SEED = 11


def rewrite(path: Path, change, line_end: str = "\n") -> None:
    """Parse a CSV, let `change(rows)` edit its rows in place, write it back with line_end."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    change(rows)
    out = io.StringIO()
    csv.writer(out, lineterminator=line_end).writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8", newline="")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("emulate-generated")
    gen.generate(out, SCALE, SEED, quiet=True)
    return out


def hostile(generated: Path, dest: Path) -> Path:
    shutil.copytree(generated, dest)

    def movies(rows):
        rows[1][1] = 'C:\\films\\ "Best" \U0001f3ac caf\u00e9 (1999)'

    rewrite(dest / "movies.csv", movies, line_end="\r\n")  # CRLF, with doubled quotes

    def tags(rows):
        # The generator's empty tags go: past the validator nobody lists them as rejected, so
        # assert_every_raw_tag_is_valid stops both builds alike (tests/test_bad_input.py covers them).
        rows[:] = [rows[0]] + [row for row in rows[1:] if row and row[2].strip()]
        rows[1][2], rows[2][2], rows[3][2], rows[4][2] = "\\N", "C:\\path\\", "end\\", "\U0001f3ac great"

    rewrite(dest / "tags.csv", tags)
    with open(dest / "tags.csv", "a", encoding="utf-8") as handle:
        handle.write("\n")  # a trailing blank line

    links = (dest / "links.csv").read_text(encoding="utf-8").split("\n")
    first = links[1].split(",")
    links[1] = f'{first[0]},{first[1]},""'  # a quoted empty tmdbId
    (dest / "links.csv").write_text("\n".join(links), encoding="utf-8")

    ratings = (dest / "ratings.csv").read_text(encoding="utf-8").split("\n")
    ratings.insert(3, "")  # a blank line in the middle
    (dest / "ratings.csv").write_text("\n".join(ratings) + "\n", encoding="utf-8")
    return dest


@pytest.mark.dbt
@pytest.mark.emulator
def test_hostile_bytes_give_the_same_tables_on_both_targets(generated, tmp_path):
    folder = hostile(generated, tmp_path / "hostile")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    result = emulate.run(folder, tmp_path / "work", validate=False)

    assert result.duckdb.failed_step is None, result.duckdb.describe()
    assert result.snowflake.failed_step is None, result.snowflake.describe()
    lines = result.lines()
    assert result.comparison is not None and result.comparison.differing == 0, "\n".join(lines)
    assert len(result.comparison.tables) >= 15
    assert lines[-1] == f"0 of {len(result.comparison.tables)} core and analytics tables differ"
    assert result.agree
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before, "DATA_DIR was written to"


@pytest.mark.dbt
@pytest.mark.emulator
def test_a_row_with_an_extra_value_stops_both_targets_on_the_same_line(generated, tmp_path):
    folder = tmp_path / "extra"
    shutil.copytree(generated, folder)
    ratings = (folder / "ratings.csv").read_text(encoding="utf-8").split("\n")
    ratings[4] += ",5"  # line 5: one value too many
    (folder / "ratings.csv").write_text("\n".join(ratings), encoding="utf-8")

    result = emulate.run(folder, tmp_path / "work", validate=False)

    assert result.duckdb.stop == ("ratings/batch=0000/ratings.csv", 5), result.duckdb.describe()
    assert result.snowflake.stop == ("ratings/batch=0000/ratings.csv", 5), result.snowflake.describe()
    assert result.snowflake.failed_step == "raw load"
    assert result.agree
    assert result.lines()[-1] == "both targets stop on the same file and line"


def test_emulate_says_what_is_missing_in_one_line(tmp_path, capsys):
    assert run("emulate", "--data-dir", str(tmp_path / "nope"), "--work", str(tmp_path / "work")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: DATA_DIR=") and "is not a folder" in err[0]


class _DuckAsSnowflake:
    """A DuckDB database answering like a Snowflake cursor (upper-case schema names, description)."""

    def __init__(self, con):
        self.con = con
        self.description = []

    def execute(self, sql):
        listing = "(select * from information_schema.tables where table_catalog = 'analytics')"
        self.result = self.con.execute(sql.replace("ANALYTICS.INFORMATION_SCHEMA.TABLES", listing))
        self.description = [type("D", (), {"name": d[0].upper(), "type_code": 2}) for d in self.result.description]

    def fetchall(self):
        return self.result.fetchall()


def test_the_comparison_names_each_difference_and_counts_the_tables():
    import duckdb

    from scripts.tools.compare import compare_warehouses

    duck = duckdb.connect()
    snow = duckdb.connect()
    snow.execute("attach ':memory:' as analytics")
    for con, schema_sql in ((duck, "core"), (snow, 'analytics."CORE"')):
        con.execute(f"create schema {schema_sql}")
        prefix = "core" if con is duck else "analytics.core"
        con.execute(f"create table {prefix}.dim_a as select * from (values (1, 'x'), (2, 'y')) t(id, name)")
        con.execute(f"create table {prefix}.dim_b as select [1, 2] as ids")
    snow.execute("update analytics.core.dim_a set name = 'z' where id = 2")
    snow.execute("create table analytics.core.dim_c as select 1 as id")

    comparison = compare_warehouses(duck, _DuckAsSnowflake(snow))

    lines = comparison.lines()
    assert comparison.tables == ["core.dim_a", "core.dim_b", "core.dim_c"]
    assert any(line.startswith("core.dim_a.name: values differ (1 only on Snowflake, e.g. ['z']") for line in lines)
    assert "core.dim_c: only on Snowflake" in lines
    assert lines[-1] == "2 of 3 core and analytics tables differ"
