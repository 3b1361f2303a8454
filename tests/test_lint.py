"""The pre-commit hooks (.pre-commit-config.yaml) pass on the repository and catch what they are for.

pre-commit needs a git repository whose config file is staged, so each test works on a throw-away
repository: the files of the working tree (tracked, or new and not ignored) copied to a temporary
folder, `git init` + `git add` there, and .venv linked to the project's (the hooks run .venv/bin/...).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from detect_secrets import SecretsCollection
from detect_secrets.settings import transient_settings

from tests.dbt_runner import ROOT, dbt_env

VENV = ROOT / ".venv"
BASELINE = ROOT / ".secrets.baseline"
PYTHON = str(Path(sys.executable))
SQLFLUFF = str(Path(sys.executable).parent / "sqlfluff")

# Fakes assembled at run time, so this file itself holds no string the secret scan would flag.
FAKE_AWS_KEY_ID = "AKIA" + "TESTFAKEKEY0LINT"
FAKE_AWS_SECRET = "fake/" + "A1b2C3d4" * 4 + "xyz"  # 40 characters
FAKE_PRIVATE_KEY = "-----BEGIN " + "RSA PRIVATE KEY-----"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without git's or dbt's settings (a hook may be running us)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "DBT_", "PRE_COMMIT"))}
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def working_tree_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(name for name in set(listed.split("\0")) if name and (ROOT / name).is_file())


def make_repo(dest: Path, files: list[str]) -> Path:
    """A git repository in dest holding copies of the given project files, all staged, with .venv linked."""
    if not (VENV / "bin" / "pre-commit").exists():
        pytest.fail(f"{VENV}/bin/pre-commit is missing: run `make setup` first")
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)
    (dest / ".venv").symlink_to(VENV, target_is_directory=True)
    env = clean_env()
    run(["git", "init", "-q", str(dest)], dest, env).check_returncode()
    with (dest / ".git" / "info" / "exclude").open("a", encoding="utf-8") as exclude:
        exclude.write(".venv\n")
    run(["git", "add", "-A"], dest, env).check_returncode()
    return dest


def pre_commit(repo: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    env = clean_env(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never")
    return run([PYTHON, "-m", "pre_commit", "run", "--color", "never", *args], repo, env)


# =====================================================================================
# (a) the repository passes every hook, and no hook changes a file
# =====================================================================================


@pytest.mark.dbt
def test_pre_commit_passes_on_the_repository(tmp_path):
    repo = make_repo(tmp_path / "repo", working_tree_files())
    assert (repo / ".pre-commit-config.yaml").is_file(), ".pre-commit-config.yaml is not in the working tree"

    result = pre_commit(repo, "--all-files", home=tmp_path / "pre-commit-home")

    output = result.stdout + result.stderr
    assert result.returncode == 0, f"pre-commit failed on the repository:\n{output[-6000:]}"
    hooks = ("ruff check", "ruff format", "YAML syntax", "files end in one newline", "no trailing whitespace")
    hooks += ("no merge conflict markers", "no large files", "secret scan", "sqlfluff lint", "dbt parse")
    for hook in hooks:
        assert any(line.startswith(hook) and line.rstrip().endswith("Passed") for line in output.splitlines()), (
            f"hook {hook!r} did not run and pass:\n{output[-3000:]}"
        )
    changed = run(["git", "diff", "--name-only"], repo, clean_env()).stdout.split()
    assert changed == [], f"hooks modified files: {changed}"


# =====================================================================================
# (b) sqlfluff rejects an upper-case keyword
# =====================================================================================


@pytest.mark.dbt
def test_sqlfluff_rejects_uppercase_keyword(tmp_path):
    # The project's dbt and sqlfluff settings, macros, seeds and models (the on-run-end hook refers
    # to the facts), and one more model to lint.
    project = tmp_path / "project"
    for name in working_tree_files():
        if name.split("/")[0] in ("macros", "profiles", "models", "seeds") or name in (
            "dbt_project.yml",
            ".sqlfluff",
            ".sqlfluffignore",
        ):
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, project / name)
    model = project / "models" / "marts" / "analytics" / "mart_lint_probe.sql"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text("SELECT 1 AS x\n", encoding="utf-8")

    env = dbt_env(tmp_path / "work", raw_root=str(tmp_path / "no-raw-data"))
    result = run([SQLFLUFF, "lint", "--disable-progress-bar", str(model.relative_to(project))], project, env)

    output = result.stdout + result.stderr
    assert result.returncode != 0, f"sqlfluff accepted `SELECT 1 AS x`:\n{output[-3000:]}"
    assert "mart_lint_probe.sql" in output and "CP01" in output, output[-3000:]
    assert not re.search(r"\|\s+TMP\s+\|", output), f"the dbt templater failed instead of linting:\n{output[-3000:]}"


# =====================================================================================
# (c) the secret scan
# =====================================================================================


def scan(folder: Path, name: str, text: str) -> list[tuple[int, str]]:
    """(line, secret type) of each finding detect-secrets makes in one file, with the project's
    plugins and filters (.secrets.baseline, its plugin path made absolute)."""
    config = json.loads(BASELINE.read_text(encoding="utf-8"))
    for plugin in config["plugins_used"]:
        if plugin.get("path", "").startswith("file://"):
            plugin["path"] = f"file://{ROOT / plugin['path'].removeprefix('file://')}"
    path = folder / name
    path.write_text(text, encoding="utf-8")
    with transient_settings(config):
        secrets = SecretsCollection()
        secrets.scan_file(str(path))
    return sorted((s.line_number, s.type) for _, s in secrets)


@pytest.mark.parametrize(
    ("path", "line", "what"),
    [
        ("settings.env", f"AWS_ACCESS_KEY_ID={FAKE_AWS_KEY_ID}", "AWS Access Key"),
        ("id_rsa", FAKE_PRIVATE_KEY, "Private Key"),
        ("creds.ini", f"aws_secret_access_key = {FAKE_AWS_SECRET}", "AWS secret access key"),
        ("profiles.yml", "      password: hunter2", "Literal password in YAML"),
        ("profiles.yml", "      password: \"{{ env_var('SNOWFLAKE_PASSWORD', 'hunter2') }}\"", "with no default"),
        ("ci.yml", "  DBT_ENV_SECRET_SNOWFLAKE_PASSWORD" + ": hunter2", "DBT_ENV_SECRET_"),
        (".env", "export DBT_ENV_SECRET_SNOWFLAKE_PASSWORD" + "='hunter2'", "Hard-coded value"),
        ("conftest.py", 'os.environ["DBT_ENV_SECRET_X"]' + ' = "hunter2"', "Hard-coded value"),
    ],
)
def test_secret_scan_finds(tmp_path, path, line, what):
    findings = scan(tmp_path, path, f"# line 1\n{line}\n")
    assert [number for number, _ in findings] == [2], findings
    assert what in findings[0][1]


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("profiles.yml", "      password: \"{{ env_var('DBT_ENV_SECRET_SNOWFLAKE_PASSWORD', '') }}\""),
        ("profiles.yml", "      password:"),
        (".github/ci.yml", "  DBT_ENV_SECRET_SNOWFLAKE_PASSWORD: ${{ secrets.SNOWFLAKE_PASSWORD }}"),
        ("Makefile", "export DBT_ENV_SECRET_SNOWFLAKE_PASSWORD ?= $(shell cat .password)"),
        ("README.md", "export DBT_ENV_SECRET_SNOWFLAKE_PASSWORD=..."),
        ("check.py", '"DBT_ENV_SECRET_SNOWFLAKE_PASSWORD": "password (masked by dbt)",'),
        ("conftest.py", f'KEY = "{FAKE_AWS_KEY_ID}"  # pragma: allowlist secret'),
        ("models/x.yml", "        description: The password: never stored here."),
    ],
)
def test_secret_scan_allows(tmp_path, path, line):
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    assert scan(tmp_path, path, line + "\n") == []


def test_pre_commit_hook_blocks_a_leaked_key(tmp_path):
    files = [".pre-commit-config.yaml", "ruff.toml", ".secrets.baseline", "scripts/secrets_plugin.py"]
    repo = make_repo(tmp_path / "repo", files)
    (repo / "deploy.env").write_text(f"ok\nAWS_ACCESS_KEY_ID={FAKE_AWS_KEY_ID}\n", encoding="utf-8")
    (repo / "fixture.env").write_text(f"AWS_ACCESS_KEY_ID={FAKE_AWS_KEY_ID}  # pragma: allowlist secret\n")
    (repo / "blob.bin").write_bytes(b"\0\1" + FAKE_AWS_KEY_ID.encode())
    run(["git", "add", "-A"], repo, clean_env()).check_returncode()

    result = pre_commit(repo, "secret-scan", "--all-files", home=tmp_path / "pre-commit-home")

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    found = re.findall(r"Secret Type: (.*)\nLocation: +(\S+)", output)
    assert found == [("AWS Access Key", "deploy.env:2")], output
    assert FAKE_AWS_KEY_ID not in output
