"""A local S3 for development: moto's server on 127.0.0.1, run in the background.

    python -m scripts.s3_local start          # idempotent; waits until it answers
    python -m scripts.s3_local status         # exit 0 if running, 1 if not
    python -m scripts.s3_local ensure-bucket  # create $S3_BUCKET (local) / check it (AWS)
    python -m scripts.s3_local stop

The port is S3_LOCAL_PORT (default 5555); point the other scripts at it with
S3_ENDPOINT_URL=http://127.0.0.1:5555 and the fake keys AWS_ACCESS_KEY_ID=testing,
AWS_SECRET_ACCESS_KEY=testing. The pid file and the server log are
data/s3/moto-<port>.pid and data/s3/moto-<port>.log.

moto keeps every bucket and object IN MEMORY: stopping the server (or rebooting) loses
them. Start it again, run ensure-bucket, and upload again (the upload re-sends it all).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import botocore.exceptions

from scripts import upload

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATE_DIR = REPO_ROOT / "data" / "s3"
DEFAULT_PORT = 5555
HOST = "127.0.0.1"

# Keep the Popen objects of servers started by this process (tests) so they are
# reaped on stop; a CLI `start` exits and leaves its server to init.
_CHILDREN: dict[int, subprocess.Popen] = {}


class LocalS3Error(Exception):
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


def probe(port: int, timeout: float = 1.0) -> bool | None:
    """True if moto answers on the port, False if something else does, None if nothing."""
    url = f"{endpoint_url(port)}/moto-api/config"  # read-only on GET
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return isinstance(json.loads(response.read()), dict)
    except urllib.error.HTTPError:
        return False
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    except ValueError:  # answered, but not with moto's JSON
        return False


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
            return b"moto" in cmdline.read_bytes()
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
    """Start moto in the background; returns (pid, started). Already running => started False.

    `env` adds variables for the server process (e.g. INITIAL_NO_AUTH_ACTION_COUNT=0
    turns on moto's IAM authentication, so unknown keys are rejected).
    """
    state_dir = Path(state_dir)
    pidf, logf = pid_file(state_dir, port), log_file(state_dir, port)
    answer = probe(port)
    if answer:
        pid = _read_pid(pidf)
        return (pid if pid and _alive(pid) else None), False
    if answer is False:
        raise LocalS3Error(
            f"port {port} is used by another program, not moto: set S3_LOCAL_PORT "
            "to a free port (and S3_ENDPOINT_URL to match)"
        )
    old = _read_pid(pidf)
    if old and _alive(old):
        raise LocalS3Error(
            f"moto (pid {old}) holds {pidf} but does not answer on port {port}: "
            f"stop it (python -m scripts.s3_local stop) and start again; see {logf}"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(logf, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the calling make / terminal
            env={**os.environ, **(env or {})},
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
                f"moto exited at start on port {port} ({_last_log_line(logf)}): "
                f"set S3_LOCAL_PORT to a free port; full log in {logf}"
            )
        if probe(port, timeout=0.5):
            return proc.pid, True
        time.sleep(0.1)
    stop_server(port, state_dir)
    raise LocalS3Error(f"moto did not answer on port {port} within {timeout:.0f} s: see {logf}")


def stop_server(port: int = DEFAULT_PORT, state_dir: str | os.PathLike = DEFAULT_STATE_DIR) -> int | None:
    """Stop the server named by the pid file; returns its pid, None if none was running."""
    pidf = pid_file(Path(state_dir), port)
    pid = _read_pid(pidf)
    if pid is None or not _alive(pid):
        pidf.unlink(missing_ok=True)
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
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


def server_status(
    port: int = DEFAULT_PORT, state_dir: str | os.PathLike = DEFAULT_STATE_DIR
) -> tuple[bool, int | None]:
    """(moto answers on the port, pid from the pid file if that process is alive)."""
    pid = _read_pid(pid_file(Path(state_dir), port))
    return bool(probe(port)), (pid if pid and _alive(pid) else None)


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
    try:
        client.create_bucket(**kwargs)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise upload.UploadError(upload.describe_s3_error(exc, bucket)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise upload.UploadError(upload.describe_s3_error(exc, bucket)) from None
    return f"created bucket {bucket} {upload.endpoint_text()}"


def _port_from_env() -> int:
    raw = os.environ.get("S3_LOCAL_PORT") or str(DEFAULT_PORT)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise LocalS3Error(f"S3_LOCAL_PORT={raw!r} is not a port: use e.g. 5555")
    return int(raw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.s3_local",
        description="Run moto's S3 server on 127.0.0.1 (objects live in memory only).",
    )
    parser.add_argument(
        "command",
        choices=["start", "stop", "status", "ensure-bucket"],
        help="what to do",
    )
    parser.add_argument("--port", type=int, help="port (default $S3_LOCAL_PORT or 5555)")
    parser.add_argument(
        "--state-dir",
        default=str(DEFAULT_STATE_DIR),
        help="folder for the pid file and log (default data/s3)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        help="start: seconds to wait (default 20)",
    )
    parser.add_argument("--bucket", help="ensure-bucket: bucket (default $S3_BUCKET)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        port = args.port or _port_from_env()
        url = endpoint_url(port)
        if args.command == "start":
            pid, started = start_server(port, args.state_dir, args.timeout)
            what = "started" if started else "already running"
            print(
                f"moto S3 {what} at {url} (pid {pid or '?'}, log "
                f"{log_file(Path(args.state_dir), port)}); use S3_ENDPOINT_URL={url}"
            )
        elif args.command == "stop":
            pid = stop_server(port, args.state_dir)
            if pid is None:
                print(f"no moto S3 started from {args.state_dir} on port {port}")
            else:
                print(
                    f"stopped moto S3 (pid {pid}); its buckets and objects are gone "
                    "(memory only): start, ensure-bucket and upload again to restore"
                )
        elif args.command == "status":
            answering, pid = server_status(port, args.state_dir)
            if not answering:
                print(f"no S3 server answers at {url}")
                return 1
            print(f"moto S3 running at {url} (pid {pid or 'unknown: not ours'})")
        else:
            print(ensure_bucket(args.bucket))
    except (LocalS3Error, upload.UploadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
