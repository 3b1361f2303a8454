"""Start, reach and stop the Snowflake emulator (snowflake_emulator.py beside this file, in .venv-fakesnow)
as a local process: used by `make emulate` and by the test suite."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from scripts.common import ROOT, free_port  # noqa: F401 - free_port re-exported for the tests

EMULATOR_PYTHON = ROOT / ".venv-fakesnow" / "bin" / "python"
EMULATOR_SCRIPT = Path(__file__).with_name("snowflake_emulator.py")


class EmulatorStartError(RuntimeError):
    """The emulator did not answer a login in time; the message ends with its log."""


def emulator_command(*args: str) -> list[str]:
    return [str(EMULATOR_PYTHON), str(EMULATOR_SCRIPT), *args]


def start_emulator(port: int, db_path: Path, s3_endpoint: str, log_path: Path) -> subprocess.Popen:
    """Start the emulator (no shell) and wait until it answers a login; raise with its log if not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "AWS_", "FS_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            emulator_command("--port", str(port), "--db-path", str(db_path), "--s3-endpoint-url", s3_endpoint),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
    ready = subprocess.run(
        emulator_command("--port", str(port), "--check", "--wait", "60"), capture_output=True, timeout=90
    )
    if ready.returncode != 0 or proc.poll() is not None:
        stop_emulator(proc)
        raise EmulatorStartError(
            f"the Snowflake emulator did not start on port {port}:\n{Path(log_path).read_text()[-3000:]}"
        )
    return proc


def stop_emulator(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def snowflake_connect(port: int, schema: str | None = "MOVIELENS"):
    """A snowflake-connector connection to the emulator (the caller closes it)."""
    import snowflake.connector

    # The connector must never probe cloud metadata hosts: set for the connect, then restored.
    before = os.environ.get("SNOWFLAKE_DISABLE_PLATFORM_DETECTION")
    os.environ["SNOWFLAKE_DISABLE_PLATFORM_DETECTION"] = "true"
    try:
        return snowflake.connector.connect(
            account="emulator",
            user="emulator",
            password="emulator",
            host="127.0.0.1",
            port=port,
            protocol="http",
            database="ANALYTICS",
            login_timeout=30,
            **({"schema": schema} if schema else {}),
        )
    finally:
        if before is None:
            os.environ.pop("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", None)
        else:
            os.environ["SNOWFLAKE_DISABLE_PLATFORM_DETECTION"] = before
