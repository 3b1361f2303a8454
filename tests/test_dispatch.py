"""Honest dispatch: every adapter.dispatch macro has a DuckDB and a Snowflake version, and its
`default__` stops with one line naming the adapter instead of running another dialect's SQL.
Both targets still compiling is proven by every DuckDB build and by tests/test_snowflake.py."""

from __future__ import annotations

import re

import pytest

from tests.dbt_runner import ROOT, dbt_env, run_dbt

DISPATCH = re.compile(r"adapter\.dispatch\(\s*'(\w+)'")
MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\((.*?)\)\s*-?%\}(.*?)\{%-?\s*endmacro\s*-?%\}", re.S)


def dispatched_macros() -> dict[str, dict[str, str]]:
    """{macro name: {implementation name: body}} for every dispatched macro under macros/."""
    bodies, names = {}, set()
    for path in sorted((ROOT / "macros").rglob("*.sql")):
        text = path.read_text(encoding="utf-8")
        names.update(DISPATCH.findall(text))
        bodies.update({m.group(1): m.group(3) for m in MACRO.finditer(text)})
    return {name: {k: v for k, v in bodies.items() if k.endswith(f"__{name}")} for name in sorted(names)}


MACROS = dispatched_macros()


def test_the_project_dispatches_its_dialect_differences():
    assert {"epoch_to_timestamp", "regex_extract", "split_to_list", "list_size", "try_cast_text"} <= set(MACROS)


@pytest.mark.parametrize("name", MACROS)
def test_each_target_has_its_own_version_and_default_refuses(name):
    versions = MACROS[name]
    assert {f"duckdb__{name}", f"snowflake__{name}", f"default__{name}"} <= set(versions), sorted(versions)
    default = " ".join(versions[f"default__{name}"].split())
    assert default == f"{{{{ unsupported_adapter('{name}') }}}}", f"default__{name} holds SQL: {default}"


@pytest.mark.dbt
def test_the_default_raises_a_compiler_error_naming_the_adapter(tmp_path):
    env = dbt_env(tmp_path, str(tmp_path / "landing"), DUCKDB_PATH=":memory:")
    proc = run_dbt(["run-operation", "default__epoch_to_timestamp", "--args", "{column: x}"], env, check=False)
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "epoch_to_timestamp: no version for adapter 'duckdb'; this project supports duckdb and snowflake" in (
        proc.stdout
    )
