"""`make emulate` (scripts/emulate.py) on a delivery of hostile bytes copied straight into the bucket.

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

from scripts import emulate
from scripts import generate_movielens as gen

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
    assert emulate.main(["--data-dir", str(tmp_path / "nope"), "--work", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: DATA_DIR=") and "is not a folder" in err[0]
