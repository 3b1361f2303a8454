"""The local S3 of development (`make s3`, `make s3-stop`): s3_server.py in the background on
127.0.0.1:$S3_LOCAL_PORT, with the fake keys `testing`. Its state folder (default data/s3) holds
the pid file, the log and every object that landed, so a stopped or killed server loses nothing.
One server per checkout: a port held by another checkout's server is refused with one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

import botocore.exceptions
import click

from scripts.common import ROOT, UserError
from scripts.landing import s3_server, upload

DEFAULT_STATE_DIR = ROOT / "data" / "s3"
DEFAULT_PORT = 5555
HOST = "127.0.0.1"

# Keep the Popen objects of servers started by this process (tests) so they are
# reaped on stop; a CLI `start` exits and leaves its server to init.
_CHILDREN: dict[int, subprocess.Popen] = {}


class LocalS3Error(UserError):
    """An error the user can fix; its message is the one line they see."""


def endpoint_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def client(endpoint: str):
    """A boto3 S3 client for a local server at endpoint, with the server's fake keys."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def pid_file(state_dir: Path, port: int) -> Path:
    return Path(state_dir) / f"moto-{port}.pid"


def log_file(state_dir: Path, port: int) -> Path:
    return Path(state_dir) / f"moto-{port}.log"


def whois(port: int, timeout: float = 1.0) -> dict | str | None:
    """Who answers on the port: the identity (a dict) of a server started by scripts/landing/s3_local.py,
    "moto" for a moto server that is none of ours, "other" for any other program, None for nothing."""
    url = f"{endpoint_url(port)}{s3_server.IDENTITY_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            answer = json.loads(response.read())
        if isinstance(answer, dict) and answer.get("server") == s3_server.SERVER_NAME:
            return answer
    except (urllib.error.HTTPError, ValueError):  # answered, but not with our identity (JSON)
        pass
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    try:
        with urllib.request.urlopen(f"{endpoint_url(port)}/moto-api/config", timeout=timeout) as response:
            return "moto" if isinstance(json.loads(response.read()), dict) else "other"
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return "other"


def _ours(who, state_dir: Path) -> bool:
    return isinstance(who, dict) and who.get("state_dir") == str(Path(state_dir).resolve())


def held_message(port: int, who, state_dir: Path) -> str:
    """One line: the port is taken by a server or program that is not this checkout's."""
    fix = f"set S3_LOCAL_PORT to a free port for this checkout (e.g. make dev S3_LOCAL_PORT={port + 1})"
    if isinstance(who, dict):
        owner = Path(who.get("state_dir", "?"))
        checkout = owner.parents[1] if len(owner.parents) > 1 else owner
        return (
            f"port {port} is held by the local S3 server of another checkout ({checkout}, pid "
            f"{who.get('pid', '?')}): {fix}, or stop that one (make s3-stop in {checkout})"
        )
    if who == "moto":
        return f"port {port} is held by a moto server this checkout did not start: {fix}, or stop that server"
    return f"port {port} is used by another program, not a local S3 server: {fix}"


def other_ports(state_dir: Path, port: int) -> list[tuple[int, int]]:
    """(port, pid) of this checkout's servers that run on another port."""
    found = []
    for path in sorted(Path(state_dir).glob("moto-*.pid")):
        other = path.stem.removeprefix("moto-")
        pid = _read_pid(path)
        if other.isdigit() and int(other) != port and pid and _alive(pid):
            found.append((int(other), pid))
    return found


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")  # Linux: make sure the pid was not reused
    if cmdline.exists():
        try:
            # moto.server: a server started by an earlier version of this script (memory only)
            return any(name in cmdline.read_bytes() for name in (b"s3\x00serve", b"s3_server", b"moto.server"))
        except OSError:
            return False
    return True


def _last_log_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    except OSError:
        return "no log"
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else "empty log"


def start_server(
    port: int = DEFAULT_PORT,
    state_dir: str | os.PathLike = DEFAULT_STATE_DIR,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
) -> tuple[int | None, bool]:
    """Start the server in the background; returns (pid, started). Already running => started False.

    Refuses (LocalS3Error, one line) a port held by another checkout's server or another program,
    and a second server of this checkout (state_dir) on another port: both would share the
    objects in state_dir. `env` adds variables for the server process (e.g.
    INITIAL_NO_AUTH_ACTION_COUNT=0 turns on moto's IAM authentication: unknown keys are rejected).
    """
    state_dir = Path(state_dir).resolve()
    pidf, logf = pid_file(state_dir, port), log_file(state_dir, port)
    who = whois(port)
    if _ours(who, state_dir):
        return who.get("pid"), False
    old = _read_pid(pidf)
    if who == "moto" and old and _alive(old):
        raise LocalS3Error(
            f"port {port} is held by this checkout's earlier local S3 server (pid {old}), which keeps "
            "objects in memory only: stop it (make s3-stop), start it again (make s3) and land every "
            "batch again (make upload; later batches are kept in data/deliveries/)"
        )
    if who is not None:
        raise LocalS3Error(held_message(port, who, state_dir))
    for other, pid in other_ports(state_dir, port):
        raise LocalS3Error(
            f"this checkout's local S3 server already runs on port {other} (pid {pid}): use it "
            f"(S3_LOCAL_PORT={other}), or stop it first (make s3-stop S3_LOCAL_PORT={other})"
        )
    if old and _alive(old):
        raise LocalS3Error(
            f"the local S3 server (pid {old}) holds {pidf} but does not answer on port {port}: "
            f"stop it (make s3-stop) and start again; see {logf}"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(logf, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scripts", "s3", "serve", "--port", str(port), "--state-dir", str(state_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the calling make / terminal
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            cwd=state_dir,
        )
    _CHILDREN[proc.pid] = proc
    pidf.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pidf.unlink(missing_ok=True)
            _CHILDREN.pop(proc.pid, None)
            raise LocalS3Error(
                f"the local S3 server exited at start on port {port} ({_last_log_line(logf)}): "
                f"set S3_LOCAL_PORT to a free port; full log in {logf}"
            )
        if _ours(whois(port, timeout=0.5), state_dir):
            return proc.pid, True
        time.sleep(0.1)
    stop_server(port, state_dir)
    raise LocalS3Error(f"the local S3 server did not answer on port {port} within {timeout:.0f} s: see {logf}")


def stop_server(port: int = DEFAULT_PORT, state_dir: str | os.PathLike = DEFAULT_STATE_DIR) -> int | None:
    """Stop the server named by the pid file; returns its pid, None if none was running."""
    pidf = pid_file(Path(state_dir), port)
    pid = _read_pid(pidf)
    if pid is None or not _alive(pid):
        pidf.unlink(missing_ok=True)
        return None
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(timeout=5)
    pidf.unlink(missing_ok=True)
    return pid


def check_landing_zone(raw_root: str, port: int | None, state_dir: str | os.PathLike = DEFAULT_STATE_DIR) -> str:
    """Before a DuckDB build: can the landing zone raw_root be read? One line, or LocalS3Error /
    upload.UploadError naming the fix. port: the local server's port when no real S3 is set."""
    if not raw_root.startswith("s3://"):
        return f"landing zone {raw_root} (local folder)"
    if port is not None:
        who = whois(port)
        if who is None:
            raise LocalS3Error(
                f"no local S3 server answers at {endpoint_url(port)}, where the landing zone {raw_root} is: "
                "start it with make s3 (it brings back every file that landed), then run the build again"
            )
        if not _ours(who, Path(state_dir)):
            raise LocalS3Error(held_message(port, who, Path(state_dir)))
    bucket = raw_root.removeprefix("s3://").partition("/")[0]
    if not upload.bucket_exists(upload.s3_client(), bucket):
        raise upload.UploadError(upload.missing_bucket_message(bucket))
    return f"landing zone {raw_root} {upload.endpoint_text()}"


def ensure_bucket(bucket: str | None = None) -> str:
    """Create the bucket on a local S3_ENDPOINT_URL if missing; on AWS only check it.

    Returns a one-line report; raises upload.UploadError / LocalS3Error otherwise.
    """
    conf = upload.settings()
    bucket = bucket or conf["bucket"]
    client = upload.s3_client()
    if upload.bucket_exists(client, bucket):
        return f"bucket {bucket} exists {upload.endpoint_text()}"
    if not conf["endpoint_url"]:
        raise LocalS3Error(
            f"bucket {bucket!r} does not exist in AWS: create it yourself "
            f"(aws s3 mb s3://{bucket} --region {conf['region']}) or set S3_BUCKET; "
            "this script creates buckets only on a local S3_ENDPOINT_URL"
        )
    kwargs = {"Bucket": bucket}
    if conf["region"] != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": conf["region"]}
    with upload.s3_errors(bucket):
        try:
            client.create_bucket(**kwargs)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise
    return f"created bucket {bucket} {upload.endpoint_text()}"


@click.group("s3")
def command() -> None:
    """Run the local S3 server (moto, objects kept on disk) on 127.0.0.1."""


def _server_options(func):
    port = click.IntRange(1, 65535)
    func = click.option(
        "--port", type=port, envvar="S3_LOCAL_PORT", show_envvar=True, default=DEFAULT_PORT, show_default=True
    )(func)
    return click.option(
        "--state-dir", type=click.Path(path_type=Path), default=DEFAULT_STATE_DIR, help="pid file, log and objects"
    )(func)


@command.command()
@_server_options
@click.option("--timeout", type=float, default=20.0, show_default=True, help="seconds to wait")
def start(port: int, state_dir: Path, timeout: float) -> None:
    """Start this checkout's server (idempotent); waits until it answers."""
    pid, started = start_server(port, state_dir, timeout)
    url = endpoint_url(port)
    print(
        f"local S3 {'started' if started else 'already running'} at {url} (pid {pid or '?'}, objects kept in "
        f"{s3_server.store_dir(state_dir.resolve())}, log {log_file(state_dir, port)}); use S3_ENDPOINT_URL={url}"
    )


@command.command()
@_server_options
def stop(port: int, state_dir: Path) -> None:
    """Stop this checkout's server (what landed stays on disk)."""
    pid = stop_server(port, state_dir)
    if pid is None:
        who = whois(port)
        held = "" if who is None else f"; {held_message(port, who, state_dir)}"
        print(f"no local S3 server of this checkout ({state_dir}) runs on port {port}{held}")
    else:
        objects = s3_server.store_dir(state_dir.resolve())
        print(f"stopped the local S3 server (pid {pid}); its objects stay in {objects} for the next make s3")


@command.command()
@_server_options
def status(port: int, state_dir: Path) -> None:
    """Exit 0 if this checkout's server runs, 1 if not."""
    who = whois(port)
    if who is None or not _ours(who, state_dir):
        print(f"no S3 server answers at {endpoint_url(port)}" if who is None else held_message(port, who, state_dir))
        sys.exit(1)
    objects = s3_server.store_dir(state_dir.resolve())
    print(f"local S3 running at {endpoint_url(port)} (pid {who.get('pid')}, objects kept in {objects})")


@command.command("ensure-bucket")
@click.option("--bucket", help="bucket (default $S3_BUCKET)")
def ensure_bucket_command(bucket: str | None) -> None:
    """Create $S3_BUCKET on the local server, or check it on AWS."""
    print(ensure_bucket(bucket))


@command.command()
@_server_options
@click.option("--raw-root", required=True, help="the landing zone a build reads ($MOVIELENS_RAW_ROOT)")
@click.option("--local", is_flag=True, help="the landing zone is on the local server")
def check(port: int, state_dir: Path, raw_root: str, local: bool) -> None:
    """Before a build: can the landing zone be read?"""
    print(check_landing_zone(raw_root, port if local else None, state_dir))


@command.command()
@click.option("--port", type=int, required=True)
@click.option("--state-dir", type=click.Path(path_type=Path), required=True)
def serve(port: int, state_dir: Path) -> None:
    """The server itself (started in the background by `start`)."""
    s3_server.serve(port, state_dir)
