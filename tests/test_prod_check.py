"""`make prod` with missing settings: one message listing every one of them, no traceback."""

import subprocess

from scripts.tools import prod_check
from tests.dbt_runner import ROOT


def test_every_missing_setting_is_listed_at_once():
    problems = prod_check.missing({})
    text = "\n".join(problems)
    for name in [
        "SNOWFLAKE_ACCOUNT",
        "SNOWFLAKE_USER",
        "SNOWFLAKE_RAW_DATABASE",
        "DBT_ENV_SECRET_SNOWFLAKE_PASSWORD",
        "SNOWFLAKE_STORAGE_INTEGRATION",
    ]:
        assert name in text
    assert len(problems) == 5


COMPLETE = {
    "SNOWFLAKE_ACCOUNT": "xy1",
    "SNOWFLAKE_USER": "u",
    "SNOWFLAKE_RAW_DATABASE": "RAW",
    "SNOWFLAKE_PRIVATE_KEY_PATH": "/k.p8",
    "SNOWFLAKE_STORAGE_INTEGRATION": "S3INT",
}


def test_complete_settings_pass_and_stage_keys_do_not():
    assert prod_check.missing(COMPLETE) == []
    env = {**COMPLETE, "SNOWFLAKE_STORAGE_INTEGRATION": "", "SNOWFLAKE_STAGE_AWS_KEY_ID": "key"}
    problems = prod_check.missing(env)
    assert len(problems) == 2 and all("SNOWFLAKE_STORAGE_INTEGRATION" in p for p in problems), problems
    assert "stage keys are not supported" in problems[1], problems


def test_a_programmatic_access_token_signs_in_without_a_warning():
    env = {**COMPLETE, "SNOWFLAKE_PRIVATE_KEY_PATH": "", "DBT_ENV_SECRET_SNOWFLAKE_TOKEN": "pat"}
    assert prod_check.missing(env) == [
        "SNOWFLAKE_AUTHENTICATOR=programmatic_access_token (to sign in with DBT_ENV_SECRET_SNOWFLAKE_TOKEN)"
    ]
    env["SNOWFLAKE_AUTHENTICATOR"] = "programmatic_access_token"
    assert prod_check.missing(env) == [] and prod_check.warnings(env) == []


def test_password_only_sign_in_gets_a_warning_from_prod_check():
    """Snowflake is blocking single-factor passwords: `make prod-check` warns (and still passes)."""
    env = {**COMPLETE, "SNOWFLAKE_PRIVATE_KEY_PATH": "", "DBT_ENV_SECRET_SNOWFLAKE_PASSWORD": "pw"}
    assert prod_check.missing(env) == []
    proc = subprocess.run(
        ["make", "-s", "prod-check"],
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and "password-only" in warning[0] and "SNOWFLAKE_PRIVATE_KEY_PATH" in warning[0], (
        proc.stderr
    )
    assert prod_check.warnings(COMPLETE) == [], "key-pair sign-in must not be warned about"


def test_key_pair_is_the_documented_default():
    profile = (ROOT / "profiles" / "profiles.yml").read_text()
    prod = profile[profile.index("    prod:") : profile.index("    emulator:")]
    assert "Key-pair authentication is the default" in profile
    assert prod.index("private_key_path") < prod.index("password:")
    readme = (ROOT / "README.md").read_text()
    assert "key-pair" in readme.lower() and "SNOWFLAKE_PRIVATE_KEY_PATH" in readme


def test_make_prod_without_settings_fails_with_one_clear_message():
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    proc = subprocess.run(["make", "-s", "prod"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    message = [line for line in proc.stderr.splitlines() if line.startswith("make prod: missing settings")]
    assert len(message) == 1
    assert "SNOWFLAKE_ACCOUNT" in message[0] and "SNOWFLAKE_USER" in message[0]


def test_setup_sql_is_filled_from_the_environment():
    sql = prod_check.setup_sql({"SNOWFLAKE_ROLE": "LOADER_X", "S3_BUCKET": "my-bucket"})
    assert "create role if not exists LOADER_X" in sql
    assert "s3://my-bucket/movielens/raw/" in sql
    assert "${" not in sql
