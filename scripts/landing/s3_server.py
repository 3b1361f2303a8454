"""The local S3 server: moto's S3 on 127.0.0.1, every object kept on disk (`python -m scripts s3 serve`,
started by s3_local.py). After each request that may change an object its bytes and metadata are
written to <state-dir>/objects/ before the client gets its answer, and loaded back at start.
GET /_movielens/local-s3 answers whose server it is (its state folder and pid).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

IDENTITY_PATH = "/_movielens/local-s3"
SERVER_NAME = "movielens-local-s3"
INDEX = "index.json"
REGION = "us-east-1"
MUTATING = {"PUT", "POST", "DELETE"}


def store_dir(state_dir: str | os.PathLike) -> Path:
    return Path(state_dir) / "objects"


def _file_name(key: str) -> str:
    """Where a key's bytes live under its bucket folder: the key itself when it is a plain path."""
    parts = key.split("/")
    if key and not key.endswith("/") and all(p not in ("", ".", "..") for p in parts) and not key.startswith("_/"):
        return key
    return "_/" + hashlib.sha256(key.encode()).hexdigest()


class DiskStore:
    """Mirror of moto's S3 backend on disk: one file per object and one index."""

    def __init__(self, root: Path):
        self.root = root
        self.lock = threading.Lock()
        self.index: dict[str, dict[str, dict[str, Any]]] = {}
        path = root / INDEX
        if path.is_file():
            self.index = json.loads(path.read_text(encoding="utf-8"))

    # --- moto side ---------------------------------------------------------------------
    @staticmethod
    def backends():
        from moto.s3.models import s3_backends

        for account_id in list(s3_backends.keys()):
            for partition in list(s3_backends[account_id].keys()):
                yield s3_backends[account_id][partition]

    def _write_index(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".{INDEX}.partial"
        partial.write_text(json.dumps(self.index, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.root / INDEX)

    def sync(self) -> None:
        """Write every object moto holds that the disk does not (or holds differently); remove
        from disk what moto no longer holds. Cheap: the comparison is on ETag, size and date."""
        with self.lock:
            seen: dict[str, dict[str, Any]] = {}
            for backend in self.backends():
                for name, bucket in list(backend.buckets.items()):
                    entries = seen.setdefault(name, {})
                    for key in list(bucket.keys.values()):
                        if key is None or not hasattr(key, "_value_buffer"):  # delete markers
                            continue
                        entry = {
                            "file": _file_name(key.name),
                            "size": key.size,
                            "etag": key.etag.strip('"'),
                            "last_modified": key.last_modified.isoformat(),
                            "metadata": dict(key.metadata),
                        }
                        entries[key.name] = entry
                        if self.index.get(name, {}).get(key.name) != entry:
                            self._write_object(name, key, entry["file"])
            changed = seen != self.index
            for name, entries in self.index.items():
                for key, entry in entries.items():
                    if key not in seen.get(name, {}):
                        (self.root / name / entry["file"]).unlink(missing_ok=True)
                if name not in seen:
                    shutil.rmtree(self.root / name, ignore_errors=True)
            self.index = seen
            if changed:
                self._write_index()

    def _write_object(self, bucket: str, key, file_name: str) -> None:
        target = self.root / bucket / file_name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with key.lock, open(partial, "wb") as out:
            key._value_buffer.seek(0)
            shutil.copyfileobj(key._value_buffer, out, 8 * 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)

    def restore(self) -> tuple[int, int]:
        """Load the disk store into moto; returns (objects, bytes)."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        objects = size = 0
        kept: dict[str, dict[str, Any]] = {}
        for name, entries in self.index.items():
            backend.create_bucket(name, REGION)
            kept[name] = {}
            for key_name, entry in entries.items():
                path = self.root / name / entry["file"]
                if not path.is_file() or path.stat().st_size != entry["size"]:
                    print(f"local S3: {path} is missing or cut short; object {key_name} not restored", flush=True)
                    continue
                key = backend.put_object(name, key_name, path.read_bytes(), disable_notification=True)
                key.set_metadata(dict(entry["metadata"]), replace=True)
                key.last_modified = datetime.datetime.fromisoformat(entry["last_modified"])
                key._etag = entry["etag"]
                kept[name][key_name] = entry
                objects += 1
                size += entry["size"]
        self.index = kept
        return objects, size


class App:
    """WSGI middleware: answers the identity path, syncs the store after each change."""

    def __init__(self, app, store: DiskStore, state_dir: Path):
        self.app = app
        self.store = store
        self.identity = json.dumps({"server": SERVER_NAME, "state_dir": str(state_dir), "pid": os.getpid()}).encode()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == IDENTITY_PATH and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [self.identity]
        status: list[int] = []

        def recording(code, headers, exc_info=None):
            status.append(int(code.split()[0]))
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        body = self.app(environ, recording)
        query = environ.get("QUERY_STRING", "")
        part_upload = "partNumber=" in query or ("uploads" in query.split("&") and "uploadId" not in query)
        if environ.get("REQUEST_METHOD") in MUTATING and status and status[0] < 300 and not part_upload:
            body = list(body)  # let moto finish the request, then make it durable before answering
            self.store.sync()
        return body


def serve(port: int, state_dir: Path, host: str = "127.0.0.1") -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))
    state_dir = state_dir.resolve()
    store = DiskStore(store_dir(state_dir))
    objects, size = store.restore()
    print(f"local S3: restored {objects} objects ({size:,} bytes) from {store.root}", flush=True)
    app = App(DomainDispatcherApplication(create_backend_app), store, state_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)
