"""Shared pytest fixtures. Keep each group in its own section."""

from __future__ import annotations

import uuid

import boto3
import pytest

from scripts.common import free_port
from scripts.landing import s3_local

# =====================================================================================
# S3: moto servers on 127.0.0.1 (real HTTP, nothing leaves the machine)
#
#   moto_server      session  endpoint URL of a moto server (no auth: any keys work)
#   moto_iam_server  session  a second moto server with IAM auth on: dict with endpoint,
#                             bucket, access_key_id, secret_access_key of a real user
#                             that has no permissions
#   unused_port      function a 127.0.0.1 port nothing listens on
#   s3_env           function env vars (S3_ENDPOINT_URL, testing keys, region) for
#                             moto_server, isolated from ~/.aws; returns the endpoint
#   s3_bucket        function a fresh empty bucket on moto_server, exported as S3_BUCKET
# =====================================================================================


S3_FIXTURES = {"moto_server", "moto_iam_server", "s3_env", "s3_bucket"}


# The slowest modules (dbt builds, the emulator), slowest first by their summed test durations. `make test`
# hands whole modules to two workers in collection order (--dist loadfile): starting the longest
# ones first lets both workers finish together instead of one running a long module alone at the end.
SLOWEST_FIRST = (
    "test_deliveries.py",
    "test_landing_zone.py",
    "test_snowflake_deliveries.py",
    "test_emulate.py",
    "test_snowflake.py",
    "test_snowflake_prod.py",
    "test_bad_input.py",
    "test_releases.py",
    "test_bad_input_bypass.py",
    "test_lint.py",
    "test_docs.py",
    "test_update.py",
    "test_warehouse.py",
)


def pytest_collection_modifyitems(items):
    """Mark `s3` every test that uses (directly or through its fixtures) a local S3 server above,
    and run the slowest modules first (a stable sort: each module's tests keep their order)."""
    for item in items:
        if S3_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.s3)
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("moto")
    port = free_port()
    s3_local.start_server(port, state_dir, timeout=20)
    yield s3_local.endpoint_url(port)
    s3_local.stop_server(port, state_dir)


@pytest.fixture(scope="session")
def moto_iam_server(tmp_path_factory):
    # moto checks keys only after INITIAL_NO_AUTH_ACTION_COUNT unauthenticated actions:
    # the three below create a bucket and a user with keys; every later call is checked.
    state_dir = tmp_path_factory.mktemp("moto-iam")
    port = free_port()
    s3_local.start_server(port, state_dir, env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    endpoint = s3_local.endpoint_url(port)
    admin = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    bucket = "iam-landing"
    boto3.client("s3", **admin).create_bucket(Bucket=bucket)
    iam = boto3.client("iam", **admin)
    iam.create_user(UserName="uploader")
    key = iam.create_access_key(UserName="uploader")["AccessKey"]
    yield {
        "endpoint": endpoint,
        "bucket": bucket,
        "access_key_id": key["AccessKeyId"],
        "secret_access_key": key["SecretAccessKey"],
    }
    s3_local.stop_server(port, state_dir)


@pytest.fixture
def s3_env(moto_server, monkeypatch, tmp_path):
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "S3_BUCKET", "S3_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-creds"))
    monkeypatch.setenv("S3_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return moto_server


@pytest.fixture
def s3_bucket(s3_env, monkeypatch):
    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").create_bucket(Bucket=name)
    monkeypatch.setenv("S3_BUCKET", name)
    return name
