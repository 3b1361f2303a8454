"""`make prod` with missing settings: one message listing every one of them, no traceback."""

import subprocess

from scripts import prod_check
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


def test_complete_settings_pass_and_partial_stage_keys_do_not():
    env = {
        "SNOWFLAKE_ACCOUNT": "xy1",
        "SNOWFLAKE_USER": "u",
        "SNOWFLAKE_RAW_DATABASE": "RAW",
        "SNOWFLAKE_PRIVATE_KEY_PATH": "/k.p8",
        "SNOWFLAKE_STORAGE_INTEGRATION": "S3INT",
    }
    assert prod_check.missing(env) == []
    env = {**env, "SNOWFLAKE_STORAGE_INTEGRATION": "", "SNOWFLAKE_STAGE_AWS_KEY_ID": "key"}
    assert prod_check.missing(env) == [
        "DBT_ENV_SECRET_SNOWFLAKE_STAGE_AWS_SECRET_KEY (secret key for SNOWFLAKE_STAGE_AWS_KEY_ID)"
    ]


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
