"""Project conventions, checked on dbt's manifest (in the spirit of dbt-project-evaluator).

Each check is a pure function of the manifest dict returning (model, problem) pairs, so the same
code runs on the real project and on a copy with a deliberately misplaced model, which proves
every check can fail. Needs no database: `dbt parse` only.

A model that breaks a convention on purpose says why in its YAML, next to it:
    config: {meta: {conventions_exempt: {primary_key_tests: "staging view of append-only data"}}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.dbt_runner import ROOT, copy_project, dbt_env, run_dbt

Offenders = list[tuple[str, str]]

# Folder of a model -> the prefixes its name may start with (the layer it belongs to).
LAYERS = {
    "models/staging/": ("stg_",),
    "models/intermediate/": ("int_",),
    "models/marts/core/": ("dim_", "fct_", "bridge_"),
    "models/marts/analytics/": ("mart_",),
}
# Model-level generic tests that prove a key over several columns.
COMBINATION_TESTS = {"unique_combination", "unique_combination_of_columns"}


# =====================================================================================
# manifest helpers
# =====================================================================================


def load_manifest(target_path: Path) -> dict:
    return json.loads((target_path / "manifest.json").read_text(encoding="utf-8"))


def project_models(manifest: dict) -> list[dict]:
    """The project's own models (not those of installed packages), by name."""
    project = manifest["metadata"]["project_name"]
    found = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == project
    ]
    return sorted(found, key=lambda node: node["name"])


def model_path(node: dict) -> str:
    return node["original_file_path"].replace("\\", "/")


def is_staging(node: dict) -> bool:
    return model_path(node).startswith("models/staging/")


# =====================================================================================
# checks: each returns [(model name, what is wrong)], [] when the project complies
# =====================================================================================


def check_model_names(manifest: dict) -> Offenders:
    """A model's name says its layer, and its folder is that layer's:
    staging stg_ (stg_<source>__ under models/staging/<source>/), intermediate int_,
    marts/core dim_/fct_/bridge_, marts/analytics mart_."""
    offenders = []
    for node in project_models(manifest):
        path, name = model_path(node), node["name"]
        folder = next((folder for folder in LAYERS if path.startswith(folder)), None)
        if folder is None:
            offenders.append((name, f"{path} is in no layer folder ({', '.join(LAYERS)})"))
            continue
        prefixes = LAYERS[folder]
        parts = path.split("/")
        if folder == "models/staging/" and len(parts) > 3:
            prefixes = (f"stg_{parts[2]}__",)
        if not name.startswith(prefixes):
            offenders.append((name, f"{path}: a model in {folder} is named {' or '.join(prefixes)}..."))
    return offenders


def check_only_staging_reads_sources(manifest: dict) -> Offenders:
    """source() is called in staging only (snapshots may too: they are not models)."""
    offenders = []
    for node in project_models(manifest):
        sources = [dep for dep in node["depends_on"]["nodes"] if dep.startswith("source.")]
        if sources and not is_staging(node):
            names = ", ".join(".".join(dep.split(".")[-2:]) for dep in sources)
            offenders.append((node["name"], f"{model_path(node)} reads source {names} outside staging"))
    return offenders


def check_no_staging_on_staging(manifest: dict) -> Offenders:
    """A staging model is built on sources, never on another staging model."""
    staging = {node["unique_id"]: node["name"] for node in project_models(manifest) if is_staging(node)}
    offenders = []
    for node in project_models(manifest):
        if not is_staging(node):
            continue
        for dep in node["depends_on"]["nodes"]:
            if dep in staging:
                offenders.append((node["name"], f"staging model refs staging model {staging[dep]}"))
    return offenders


def check_no_hardcoded_relations(manifest: dict) -> Offenders:
    """Every relation a model reads is a ref(), a source() or a CTE of the model itself."""
    return [
        (node["name"], f"reads {relation} without ref() or source()")
        for node in project_models(manifest)
        for relation in hardcoded_relations(node["raw_code"])
    ]


def check_model_descriptions(manifest: dict) -> Offenders:
    """Every model has a description and documents at least one column."""
    offenders = []
    for node in project_models(manifest):
        if not (node.get("description") or "").strip():
            offenders.append((node["name"], "no description"))
        if not node["columns"]:
            offenders.append((node["name"], "no column documented"))
    return offenders


def check_column_descriptions(manifest: dict) -> Offenders:
    """Every column listed in a model's YAML has a description."""
    return [
        (node["name"], f"column {column['name']} has no description")
        for node in project_models(manifest)
        for column in node["columns"].values()
        if not (column.get("description") or "").strip()
    ]


def enforced_not_null_columns(node: dict) -> set[str]:
    """Columns an enforced contract declares not null (the build fails on a null: as good as a test)."""
    if not node["config"].get("contract", {}).get("enforced"):
        return set()
    found = {
        name.lower()
        for name, column in node["columns"].items()
        if any(constraint.get("type") == "not_null" for constraint in column.get("constraints", []))
    }
    for constraint in node.get("constraints", []):
        if constraint.get("type") == "not_null":
            found.update(column.lower() for column in constraint.get("columns", []))
    return found


def check_primary_key_tests(manifest: dict) -> Offenders:
    """Every model (ephemeral ones too) has a primary-key test: unique and not_null on one
    column, or a model-level unique_combination (macros/tests/unique_combination.sql).
    A not_null constraint of an enforced contract counts as the not_null test."""
    unique: dict[str, set[str]] = {}
    not_null: dict[str, set[str]] = {}
    combination: set[str] = set()
    for test in manifest["nodes"].values():
        meta = test.get("test_metadata") if test["resource_type"] == "test" else None
        if not meta:
            continue  # singular tests and other nodes
        model = test.get("attached_node") or (test["depends_on"]["nodes"] or [None])[-1]
        column = test.get("column_name") or meta.get("kwargs", {}).get("column_name")
        if meta["name"] == "unique" and column:
            unique.setdefault(model, set()).add(column.lower())
        elif meta["name"] == "not_null" and column:
            not_null.setdefault(model, set()).add(column.lower())
        elif meta["name"] in COMBINATION_TESTS:
            combination.add(model)
    offenders = []
    for node in project_models(manifest):
        uid = node["unique_id"]
        if uid in combination or unique.get(uid, set()) & (not_null.get(uid, set()) | enforced_not_null_columns(node)):
            continue
        offenders.append((node["name"], "no primary-key test (unique + not_null on a column, or unique_combination)"))
    return offenders


CHECKS: dict[str, Callable[[dict], Offenders]] = {
    "model_names": check_model_names,
    "only_staging_reads_sources": check_only_staging_reads_sources,
    "no_staging_on_staging": check_no_staging_on_staging,
    "no_hardcoded_relations": check_no_hardcoded_relations,
    "model_descriptions": check_model_descriptions,
    "column_descriptions": check_column_descriptions,
    "primary_key_tests": check_primary_key_tests,
}


# =====================================================================================
# raw SQL: relations named directly instead of through ref() / source()
# =====================================================================================

_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_JINJA_STATEMENT = re.compile(r"\{%.*?%\}", re.S)
_JINJA_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)
JINJA = "__jinja__"  # stands for a {{ ... }} expression: ref(), source(), this, a macro call
# comments and string literals are blanked; "quoted identifiers" are kept
_SQL_NOISE = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|(\"(?:[^\"]|\"\")*\")", re.S)
_IDENT = r"(?:\"[^\"]+\"|[A-Za-z_][\w$]*)"
_CTE = re.compile(rf"({_IDENT})\s*(?:\([^()]*\))?\s+as\s+(?:not\s+)?(?:materialized\s+)?\(", re.I)
_TARGET = re.compile(rf"\b(from|join)\s+(?P<target>{_IDENT}(?:\s*\.\s*{_IDENT})*)(?P<call>\s*\()?", re.I)
# functions whose arguments use FROM: extract(year from x), trim(both ' ' from x), substring(x from 2)
_FROM_FUNCTIONS = {"extract", "trim", "substring", "position", "overlay", "date_part"}
# FROM/JOIN followed by one of these is a table function or subquery, never a relation
_NOT_RELATIONS = {"lateral", "unnest", "values", "table", "select", "generate_series", "range", JINJA}
_FILE_READERS = re.compile(r"^(read_\w+|\w+_scan)$", re.I)


def strip_sql(raw_code: str) -> str:
    """The SQL a model writes itself: Jinja expressions become a placeholder, Jinja statements,
    comments and string literals are dropped."""
    sql = _JINJA_COMMENT.sub(" ", raw_code)
    sql = _JINJA_STATEMENT.sub(" ", sql)
    sql = _JINJA_EXPRESSION.sub(f" {JINJA} ", sql)
    return _SQL_NOISE.sub(lambda m: m.group(1) or (" " if not m.group().startswith("'") else "''"), sql)


def _enclosing_function(sql: str, pos: int) -> str | None:
    """Name before the innermost parenthesis still open at pos (None at top level)."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        if sql[i] == ")":
            depth += 1
        elif sql[i] == "(":
            if depth == 0:
                match = re.search(r"([A-Za-z_]\w*)\s*$", sql[:i])
                return match.group(1).lower() if match else None
            depth -= 1
    return None


def hardcoded_relations(raw_code: str) -> list[str]:
    """Relations after FROM/JOIN that are not a {{ ref() }}, {{ source() }}, CTE or table function:
    `from raw.ratings`, `join analytics.movies`, `from ratings` with no CTE named ratings,
    `from read_csv(...)` (a file read directly)."""
    sql = strip_sql(raw_code)
    ctes = {name.strip('"').lower() for name in _CTE.findall(sql)}
    found = []
    for match in _TARGET.finditer(sql):
        target = re.sub(r"\s+", "", match.group("target"))
        first = target.split(".")[0].strip('"').lower()
        if match.group(1).lower() == "from" and (
            re.search(r"\bdistinct\s*$", sql[: match.start()], re.I)  # is [not] distinct from
            or _enclosing_function(sql, match.start()) in _FROM_FUNCTIONS
        ):
            continue
        if match.group("call"):
            if _FILE_READERS.match(target):
                found.append(f"{target}(...)")
            continue  # a table function: unnest(...), range(...), flatten(...)
        if first in _NOT_RELATIONS or ("." not in target and first in ctes):
            continue
        found.append(target)
    return found


# =====================================================================================
# the real project
# =====================================================================================


def parse(project_dir: Path, workdir: Path, **env: str) -> dict:
    """`dbt parse` of project_dir into workdir/target; returns the manifest."""
    environment = dbt_env(workdir, raw_root=str(workdir / "no-raw-data"), **env)
    run_dbt(["parse", "--no-partial-parse", "--project-dir", str(project_dir)], environment)
    return load_manifest(workdir / "target")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    return parse(ROOT, tmp_path_factory.mktemp("conventions"))


def exemption(manifest: dict, model: str, check: str) -> str | None:
    """The reason a model gives for breaking a convention on purpose, in its YAML:
    `config: {meta: {conventions_exempt: {primary_key_tests: "why"}}}`; None if it gives none."""
    for node in project_models(manifest):
        if node["name"] == model:
            meta = {**(node.get("meta") or {}), **(node["config"].get("meta") or {})}
            reason = (meta.get("conventions_exempt") or {}).get(check)
            return reason.strip() if isinstance(reason, str) and reason.strip() else None
    return None


def describe(offenders: Offenders) -> str:
    return "\n".join(f"  {model}: {problem}" for model, problem in offenders)


@pytest.mark.parametrize("check", CHECKS, ids=list(CHECKS))
def test_project_follows_convention(manifest, check):
    assert project_models(manifest), "dbt parse found no models"
    offenders = [offender for offender in CHECKS[check](manifest) if not exemption(manifest, offender[0], check)]
    assert not offenders, f"{check}: {len(offenders)} offender(s):\n{describe(offenders)}"


# =====================================================================================
# every check can fail: a copy of the project with misplaced models
# =====================================================================================

OOPS_MODELS = {
    # a staging model in the core mart, reading a source and a raw table, with no YAML at all
    "models/marts/core/stg_oops.sql": """
select ratings.*
from {{ source('movielens', 'ratings') }} as ratings
inner join raw.movies as movies on ratings.movieid = movies.movieid
""",
    # a correctly named staging model built on another staging model
    "models/staging/movielens/stg_movielens__oops.sql": """
select * from {{ ref('stg_movielens__movies') }}
""",
    # ...whose YAML lists a column without a description
    "models/staging/movielens/_oops__models.yml": """
version: 2
models:
  - name: stg_movielens__oops
    columns:
      - name: movie_id
""",
}

# check -> models it must name in the copy
EXPECTED_OFFENDERS = {
    "model_names": {"stg_oops"},
    "only_staging_reads_sources": {"stg_oops"},
    "no_staging_on_staging": {"stg_movielens__oops"},
    "no_hardcoded_relations": {"stg_oops"},
    "model_descriptions": {"stg_oops", "stg_movielens__oops"},
    "column_descriptions": {"stg_movielens__oops"},
    "primary_key_tests": {"stg_oops", "stg_movielens__oops"},
}


@pytest.fixture(scope="module")
def oops_manifest(tmp_path_factory) -> dict:
    project = copy_project(tmp_path_factory.mktemp("oops-project"))
    for relative, text in OOPS_MODELS.items():
        (project / relative).write_text(text.lstrip(), encoding="utf-8")
    return parse(project, tmp_path_factory.mktemp("oops-work"), DBT_PROFILES_DIR=str(project / "profiles"))


@pytest.mark.parametrize("check", EXPECTED_OFFENDERS, ids=list(EXPECTED_OFFENDERS))
def test_check_names_misplaced_model(oops_manifest, check):
    named = {model for model, _ in CHECKS[check](oops_manifest)}
    missing = EXPECTED_OFFENDERS[check] - named
    assert not missing, f"{check} did not report {sorted(missing)}; it reported {sorted(named)}"


def test_misplaced_models_add_no_other_offender(manifest, oops_manifest):
    oops = {Path(relative).stem for relative in OOPS_MODELS if relative.endswith(".sql")}
    for name, check in CHECKS.items():
        added = {model for model, _ in check(oops_manifest)} - {model for model, _ in check(manifest)}
        assert added <= oops, f"{name}: the copy has new offenders {sorted(added - oops)}"


# =====================================================================================
# the raw-SQL scanner on its own
# =====================================================================================


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select * from {{ ref('stg_movielens__ratings') }}", []),
        ("with source as (select * from {{ source('movielens', 'ratings') }}) select * from source", []),
        ("select * from raw.ratings", ["raw.ratings"]),
        ('select * from "RAW"."RATINGS" as r', ['"RAW"."RATINGS"']),
        ("select * from analytics.core.dim_movies", ["analytics.core.dim_movies"]),
        ("with a as (select 1 as x) select * from a left join b on a.x = b.x", ["b"]),
        ("with a as (select 1 as x) select * from a inner join raw . movies as m on true", ["raw.movies"]),
        ("select extract(year from ratings.rated_at) as y from {{ ref('fct_ratings') }} as ratings", []),
        ("select trim(both ' ' from t.tag) from {{ ref('fct_tags') }} as t", []),
        ("select * from {{ ref('a') }} as a where a.x is not distinct from a.y", []),
        ("select g.value from {{ ref('m') }} as m, lateral flatten(input => m.genres) as g", []),
        ("select g from {{ ref('m') }} as m cross join unnest(m.genres) as u(g)", []),
        ("select * from range(10) as r(i)", []),
        ("select * from (select 1 as x) as sub", []),
        ("select * from read_csv('data/x.csv')", ["read_csv(...)"]),
        ("-- select * from raw.ratings\nselect 'from raw.ratings' as note from {{ ref('a') }}", []),
        ("{# from raw.ratings #}{% set q = 'select * from raw.x' %}select * from {{ this }}", []),
        ("with movies(movie_id) as (select 1) select * from movies", []),
    ],
)
def test_hardcoded_relations(sql, expected):
    assert hardcoded_relations(sql) == expected


def test_exemption_needs_a_reason():
    def manifest_with(meta: dict) -> dict:
        node = {"resource_type": "model", "package_name": "p", "name": "m", "meta": {}, "config": {"meta": meta}}
        return {"metadata": {"project_name": "p"}, "nodes": {"model.p.m": node}}

    assert exemption(manifest_with({"conventions_exempt": {"primary_key_tests": "why"}}), "m", "primary_key_tests")
    assert not exemption(manifest_with({"conventions_exempt": {"primary_key_tests": " "}}), "m", "primary_key_tests")
    assert not exemption(manifest_with({"conventions_exempt": {"model_names": "why"}}), "m", "primary_key_tests")
    assert not exemption(manifest_with({}), "m", "primary_key_tests")
