"""The raw files and the validity rules are stated once in Python (scripts/contract.py) and once
for dbt (the sources YAML, macros/raw/raw_tables.sql, macros/contract/raw_value_rules.sql):
checked here to agree, value by value, and not to be written anywhere else."""

from __future__ import annotations

import re

import jinja2
import yaml

from scripts import contract
from tests.dbt_runner import ROOT

SOURCES = ROOT / "models" / "staging" / "movielens" / "_movielens__sources.yml"


def macro_value(path, macro: str, *args):
    """What a dbt macro returns (`{{ return(...) }}`), rendered with plain Jinja."""
    returned = []

    def _return(value):
        returned.append(value)
        return ""

    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    module = env.from_string(path.read_text(encoding="utf-8"), globals={"return": _return}).module
    text = str(getattr(module, macro)(*args))
    return returned[0] if returned else text.strip()


def test_the_sources_yaml_holds_the_raw_files_of_the_contract():
    tables = yaml.safe_load(SOURCES.read_text(encoding="utf-8"))["sources"][0]["tables"]
    found = {
        table["name"]: (
            table["config"]["meta"]["file"],
            tuple(column["name"] for column in table["columns"] if column["name"] != "filename"),
            table["config"]["meta"].get("optional", False),
            table["config"]["meta"].get("genome", False),
            table["config"]["meta"].get("delivered", True),
        )
        for table in tables
    }
    assert found == {
        raw.table: (raw.file, raw.header, raw.optional, raw.genome, raw.delivered) for raw in contract.RAW_FILES
    }


def test_the_raw_layer_macros_hold_the_raw_files_of_the_contract():
    path = ROOT / "macros" / "raw" / "raw_tables.sql"
    assert macro_value(path, "raw_tables") == {
        raw.table: [name.lower() for name in raw.header] for raw in contract.RAW_FILES
    }
    optional = {raw.table for raw in contract.RAW_FILES if raw.optional or raw.genome}
    assert set(macro_value(path, "optional_raw_tables")) == optional


def test_raw_file_names_are_written_only_in_the_contract():
    """Product Python names a raw file through scripts/contract.py (messages and docs aside)."""
    names = "|".join(re.escape(raw.file) for raw in contract.RAW_FILES)
    quoted = re.compile(rf"[\"']({names})[\"']")
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "scripts").rglob("*.py"))
        if path.name != "contract.py" and "emulator" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if quoted.search(line)
    ]
    assert found == []


RULES = ROOT / "macros" / "contract" / "raw_value_rules.sql"


def test_the_rule_macros_state_the_rules_of_the_contract():
    assert {name: macro_value(RULES, "raw_rule", name) for name in ("max_int", "max_epoch")} == {
        "max_int": contract.MAX_INT,
        "max_epoch": contract.MAX_EPOCH,
    }
    assert tuple(macro_value(RULES, "raw_rule", "ratings")) == contract.RATINGS
    assert macro_value(RULES, "raw_rule", "a_number") == contract.A_NUMBER
    assert macro_value(RULES, "raw_rule", "imdb_id") == contract.IMDB_ID
    assert macro_value(RULES, "raw_rule", "tmdb_id") == contract.TMDB_ID
    for name, reason in {
        "user_id": contract.USER_ID,
        "movie_id": contract.MOVIE_ID,
        "not_a_number": contract.NOT_A_NUMBER,
        "not_half_stars": contract.NOT_HALF_STARS,
        "bad_timestamp": contract.BAD_TIMESTAMP,
        "unknown_movie": contract.UNKNOWN_MOVIE,
        "duplicate_pair": contract.DUPLICATE_PAIR,
        "empty_tag": contract.EMPTY_TAG,
        "bad_imdb_id": contract.BAD_IMDB_ID,
        "bad_tmdb_id": contract.BAD_TMDB_ID,
    }.items():
        assert macro_value(RULES, "raw_reason", name) == reason, name


def test_the_models_and_tests_state_no_rule_of_their_own():
    """The limits, spellings and reasons are written only in the rule macros: a model or singular
    test that writes one again would drift from the validator."""
    copies = [str(contract.MAX_INT), str(contract.MAX_EPOCH), "'0.5', '1'", contract.A_NUMBER, contract.IMDB_ID]
    copies += [contract.USER_ID, contract.NOT_HALF_STARS, contract.EMPTY_TAG, contract.BAD_TMDB_ID]
    found = [
        f"{path.relative_to(ROOT)}: {copy}"
        for folder in ("models", "tests", "macros")
        for path in sorted((ROOT / folder).rglob("*.sql"))
        if path != RULES
        for copy in copies
        if copy in path.read_text(encoding="utf-8")
    ]
    assert found == []
