#!/usr/bin/python3
"""A MinIO stand-in for the drfc test suite: moto's S3 server behind a MinIO-shaped front.

It is the entrypoint of the ``minio/minio:drfc-standin`` image built by
``scripts/build-standin-images`` and accepts MinIO's command line::

    server /data [--address :9000] [--console-address :9001]

What it does like MinIO:

* S3 over HTTP on ``--address`` (default ``:9000``), path-style buckets only.
* ``GET|HEAD /minio/health/live``, ``/minio/health/ready`` and ``/minio/health/cluster`` answer 200
  once the data directory has been loaded.
* Credentials come from ``MINIO_ROOT_USER`` / ``MINIO_ROOT_PASSWORD`` (default ``minioadmin``).
  Every S3 request must be signed with them (AWS SigV4, header or presigned URL): an unknown
  access key gets 403 ``InvalidAccessKeyId``, a wrong secret 403 ``SignatureDoesNotMatch``,
  an anonymous request 403 ``AccessDenied``. ``STANDIN_AUTH=access-key`` checks only the access
  key, ``STANDIN_AUTH=none`` turns the check off. SigV2 requests are checked on the access key only.
* Data survives a container stop/start: it lives under the data directory.
  Each top-level directory is a bucket (so ``mkdir /data/bucket`` before the start creates a bucket,
  as DRfC's ``init.sh`` relies on). Objects are plain files at ``<bucket>/<key>``; keys that cannot be
  a file there (trailing ``/``, empty or dot segments, a key that is also a "directory" of another key)
  are kept under ``.minio.sys/standin/blobs``. Object metadata (ETag, Last-Modified, Content-Type,
  ``x-amz-meta-*``, storage class) and bucket versioning/policy are in
  ``.minio.sys/standin/buckets/<bucket>.json``. Files placed by hand in a bucket directory while
  the server is stopped become objects on the next start.
* A console answers any GET on ``--console-address`` (default ``:9001``) with a small HTML page.

Limits (a test double, not a storage server): only the latest version of an object is persisted,
object tags, ACLs, lifecycle and notification settings are not persisted, and unfinished multipart
uploads are lost on restart. Every mutating request (PUT/POST/DELETE) is serialised and written
through to disk before its response is sent, so what a client saw succeed is on disk.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import io
import json
import os
import re
import shutil
import signal
import sys
import threading
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

REGION = "us-east-1"
SYS_DIR = ".minio.sys"
TMP_PREFIX = ".standin-tmp-"
MUTATING_METHODS = {"PUT", "POST", "DELETE"}
HEALTH_PATHS = {"/minio/health/live", "/minio/health/ready", "/minio/health/cluster"}
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

StartResponse = Callable[..., Any]


def log(message: str) -> None:
    print(f"minio-standin: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- command line


def parse_address(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return (host or "0.0.0.0", int(port) if port else default_port)


def parse_command_line(argv: list[str]) -> tuple[Path, tuple[str, int], tuple[str, int]]:
    args = list(argv)
    if args and args[0] == "minio":
        args.pop(0)
    if not args or args[0] != "server":
        raise SystemExit(f"usage: server DIR [--address :9000] [--console-address :9001] (got {argv!r})")
    args.pop(0)
    address, console, dirs = ":9000", ":9001", []
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if name in {"--address", "--console-address"}:
            value = inline if eq else (args.pop(0) if args else "")
            if name == "--address":
                address = value
            else:
                console = value
        elif arg.startswith("-"):
            log(f"ignoring option {arg}")
        else:
            dirs.append(arg)
    if not dirs:
        raise SystemExit("server: a data directory is required")
    if len(dirs) > 1:
        log(f"several data directories given, using only {dirs[0]}")
    return Path(dirs[0]), parse_address(address, 9000), parse_address(console, 9001)


# --------------------------------------------------------------------------- authentication


def header(environ: dict[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key not in {"CONTENT_TYPE", "CONTENT_LENGTH"}:
        key = "HTTP_" + key
    value = environ.get(key)
    return None if value is None else str(value)


def aws_quote(value: str, safe: str = "-_.~") -> str:
    return quote(value, safe=safe)


def canonical_query(query: str, drop: str | None = None) -> str:
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = unquote(name), unquote(value)
        if name == drop:
            continue
        pairs.append((aws_quote(name), aws_quote(value)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Query parameters that are part of a SigV2 canonical resource (S3 "sub-resources").
V2_SUBRESOURCES = frozenset(
    [
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
    ]
)


def query_params(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


class SignatureChecker:
    """Checks that a request is signed with the root credentials.

    AWS Signature Version 4 (Authorization header or presigned query) and Version 2 (header or
    presigned query) are verified. In ``access-key`` mode only the access key is compared.
    """

    def __init__(self, access_key: str, secret_key: str, mode: str) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.mode = mode

    def check(self, environ: dict[str, Any]) -> None:
        if self.mode == "none":
            return
        query = str(environ.get("QUERY_STRING", ""))
        params = dict(query_params(query))
        authorization = header(environ, "Authorization") or ""
        if authorization.startswith("AWS4-HMAC-SHA256 "):
            fields = dict(
                item.strip().split("=", 1)
                for item in authorization[len("AWS4-HMAC-SHA256 ") :].split(",")
                if "=" in item
            )
            self._check_v4(
                environ,
                query,
                credential=fields.get("Credential", ""),
                signed_headers=fields.get("SignedHeaders", ""),
                signature=fields.get("Signature", ""),
                amz_date=header(environ, "X-Amz-Date") or "",
                payload=header(environ, "X-Amz-Content-Sha256") or self._hash_body(environ),
                drop=None,
            )
        elif "X-Amz-Credential" in params:
            self._check_v4(
                environ,
                query,
                credential=params["X-Amz-Credential"],
                signed_headers=params.get("X-Amz-SignedHeaders", ""),
                signature=params.get("X-Amz-Signature", ""),
                amz_date=params.get("X-Amz-Date", ""),
                payload="UNSIGNED-PAYLOAD",
                drop="X-Amz-Signature",
            )
        elif authorization.startswith("AWS "):
            access_key, _, signature = authorization[4:].partition(":")
            date = header(environ, "Date") or ""
            self._check_v2(environ, query, access_key, signature, [date, ""])
        elif "AWSAccessKeyId" in params:
            self._check_v2(
                environ, query, params["AWSAccessKeyId"], params.get("Signature", ""), [params.get("Expires", "")]
            )
        else:
            raise AuthError("AccessDenied", "Access Denied.")

    @staticmethod
    def _paths(environ: dict[str, Any]) -> list[str]:
        """The request path as sent, and normalised, as a client may have put it in its signature."""
        raw_uri = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/"))
        raw_path = raw_uri.split("?", 1)[0] or "/"
        return list(dict.fromkeys([raw_path, aws_quote(unquote(raw_path), safe="/~")]))

    def _check_access_key(self, access_key: str) -> None:
        if access_key != self.access_key:
            raise AuthError("InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.")

    @staticmethod
    def _mismatch() -> AuthError:
        return AuthError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )

    def _check_v4(
        self,
        environ: dict[str, Any],
        query: str,
        *,
        credential: str,
        signed_headers: str,
        signature: str,
        amz_date: str,
        payload: str,
        drop: str | None,
    ) -> None:
        scope = credential.split("/")
        if len(scope) != 5:
            raise AuthError("AuthorizationHeaderMalformed", "The credential scope is malformed.")
        self._check_access_key(scope[0])
        if self.mode == "access-key":
            return
        header_lines = "".join(
            f"{name}:{' '.join((header(environ, name) or '').split())}\n" for name in signed_headers.split(";")
        )
        method = str(environ.get("REQUEST_METHOD", "GET"))
        key = signing_key(self.secret_key, scope[1], scope[2], scope[3])
        for path in self._paths(environ):
            request = "\n".join([method, path, canonical_query(query, drop), header_lines, signed_headers, payload])
            to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256",
                    amz_date,
                    "/".join(scope[1:]),
                    hashlib.sha256(request.encode()).hexdigest(),
                ]
            )
            expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, signature):
                return
        raise self._mismatch()

    def _check_v2(self, environ: dict[str, Any], query: str, access_key: str, signature: str, dates: list[str]) -> None:
        self._check_access_key(access_key)
        if self.mode == "access-key":
            return
        method = str(environ.get("REQUEST_METHOD", "GET"))
        amz_headers: dict[str, list[str]] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_X_AMZ_"):
                name = key[5:].lower().replace("_", "-")
                amz_headers.setdefault(name, []).append(" ".join(str(value).split()))
        amz = "".join(f"{name}:{','.join(values)}\n" for name, values in sorted(amz_headers.items()))
        sub = sorted((name, value) for name, value in query_params(query) if name in V2_SUBRESOURCES)
        suffix = "&".join(f"{name}={value}" if value else name for name, value in sub)
        paths = self._paths(environ)
        # A bucket-only path is signed with a trailing slash by some clients (botocore's auth_path).
        paths += [path + "/" for path in paths if path.count("/") == 1 and len(path) > 1]
        for path in paths:
            resource = path + (f"?{suffix}" if suffix else "")
            for date in dates:
                to_sign = "\n".join(
                    [
                        method,
                        header(environ, "Content-MD5") or "",
                        header(environ, "Content-Type") or "",
                        date,
                        amz + resource,
                    ]
                )
                digest = hmac.new(self.secret_key.encode(), to_sign.encode(), hashlib.sha1).digest()
                if hmac.compare_digest(base64.b64encode(digest).decode(), signature.strip()):
                    return
        raise self._mismatch()

    @staticmethod
    def _hash_body(environ: dict[str, Any]) -> str:
        """Payload hash for a client that did not send x-amz-content-sha256 (reads and restores the body)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return hashlib.sha256(body).hexdigest()


# --------------------------------------------------------------------------- persistence


def valid_tree_key(key: str) -> bool:
    if not key or key.endswith("/") or "\0" in key:
        return False
    for segment in key.split("/"):
        if segment in {"", ".", ".."} or segment.startswith(TMP_PREFIX):
            return False
        if len(segment.encode()) > 255:
            return False
    return True


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class DiskStore:
    """Mirrors moto's in-memory S3 state into the data directory, and loads it back at start."""

    def __init__(self, root: Path, backend: Any) -> None:
        self.root = root
        self.backend = backend
        self.meta = root / SYS_DIR / "standin"
        self.lock = threading.RLock()
        # What is on disk right now: bucket -> {"bucket": {...}, "objects": {key: record}}
        self.index: dict[str, dict[str, Any]] = {}

    # ---- layout
    def index_file(self, bucket: str) -> Path:
        return self.meta / "buckets" / f"{bucket}.json"

    def blob_path(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.meta / "blobs" / bucket / digest[:2] / digest

    def object_path(self, bucket: str, key: str, record: dict[str, Any]) -> Path:
        if record.get("where") == "tree":
            return self.root / bucket / key
        return self.blob_path(bucket, key)

    # ---- load
    def load(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        buckets = objects = 0
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if not BUCKET_NAME.match(entry.name):
                log(f"skipping {entry}: not a valid bucket name")
                continue
            objects += self._load_bucket(entry.name)
            buckets += 1
        log(f"loaded {buckets} bucket(s) and {objects} object(s) from {self.root}")

    def _load_bucket(self, name: str) -> int:
        bucket = self.backend.create_bucket(name, REGION)
        try:
            saved = json.loads(self.index_file(name).read_text())
        except (OSError, ValueError):
            saved = {}
        info = saved.get("bucket", {})
        if info.get("created"):
            bucket.creation_date = dt.datetime.fromisoformat(info["created"])
        if info.get("versioning"):
            bucket.versioning_status = info["versioning"]
        if info.get("policy") is not None:
            bucket.policy = info["policy"].encode()
        loaded: dict[str, dict[str, Any]] = {}
        for key, record in saved.get("objects", {}).items():
            path = self.object_path(name, key, record)
            try:
                data = path.read_bytes()
            except OSError:
                log(f"{name}/{key}: data file {path} is missing, dropping the object")
                continue
            if len(data) != record.get("size", len(data)):
                record = {"where": record.get("where", "blob")}  # changed by hand: recompute
            self._restore_object(name, key, data, record)
            loaded[key] = self._record(self.backend.get_bucket(name).keys[key], record["where"])
        tree = self.root / name
        for path in sorted(tree.rglob("*")):
            if not path.is_file() or path.name.startswith(TMP_PREFIX):
                continue
            key = path.relative_to(tree).as_posix()
            if key in loaded or not valid_tree_key(key):
                continue
            self._restore_object(name, key, path.read_bytes(), {"where": "tree"})
            loaded[key] = self._record(self.backend.get_bucket(name).keys[key], "tree")
        self.index[name] = {"bucket": self._bucket_record(bucket), "objects": loaded}
        self._write_index(name)
        return len(loaded)

    def _restore_object(self, bucket: str, key: str, data: bytes, record: dict[str, Any]) -> None:
        fake = self.backend.put_object(
            bucket,
            key,
            data,
            storage=record.get("storage_class"),
            etag=record.get("etag"),
            disable_notification=True,
        )
        if record.get("metadata"):
            fake.set_metadata(dict(record["metadata"]), replace=True)
        if record.get("last_modified"):
            fake.last_modified = dt.datetime.fromisoformat(record["last_modified"])

    # ---- sync
    @staticmethod
    def _record(fake: Any, where: str) -> dict[str, Any]:
        return {
            "etag": fake.etag.strip('"'),
            "size": fake.size,
            "last_modified": fake.last_modified.isoformat(),
            "metadata": dict(fake.metadata),
            "storage_class": fake.storage_class,
            "where": where,
        }

    @staticmethod
    def _bucket_record(bucket: Any) -> dict[str, Any]:
        policy = bucket.policy
        return {
            "created": bucket.creation_date.isoformat(),
            "versioning": bucket.versioning_status,
            "policy": policy.decode() if isinstance(policy, bytes) else policy,
        }

    def _write_index(self, bucket: str) -> None:
        atomic_write(self.index_file(bucket), json.dumps(self.index[bucket], indent=1).encode())

    def sync(self) -> None:
        """Write what changed in moto's state since the last sync (call with ``self.lock`` held)."""
        from moto.s3.models import FakeKey

        live = dict(self.backend.buckets)
        for name in list(self.index):
            if name not in live:
                self._drop_bucket(name)
        for name, bucket in live.items():
            keys = {key: fake for key, fake in bucket.keys.items() if isinstance(fake, FakeKey)}
            self._sync_bucket(name, bucket, keys)

    def _drop_bucket(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)
        shutil.rmtree(self.meta / "blobs" / name, ignore_errors=True)
        self.index_file(name).unlink(missing_ok=True)
        del self.index[name]

    def _sync_bucket(self, name: str, bucket: Any, keys: dict[str, Any]) -> None:
        new_bucket = name not in self.index
        state = self.index.setdefault(name, {"bucket": {}, "objects": {}})
        changed = new_bucket
        (self.root / name).mkdir(parents=True, exist_ok=True)
        bucket_record = self._bucket_record(bucket)
        if bucket_record != state["bucket"]:
            state["bucket"] = bucket_record
            changed = True

        ordered = sorted(keys)
        wanted: dict[str, dict[str, Any]] = {}
        for key, fake in keys.items():
            nested = bisect_left(ordered, key + "/")
            is_dir_of_another = nested < len(ordered) and ordered[nested].startswith(key + "/")
            where = "tree" if valid_tree_key(key) and not is_dir_of_another else "blob"
            wanted[key] = self._record(fake, where)

        objects: dict[str, dict[str, Any]] = state["objects"]
        # First remove what is gone or moves, so that a file never blocks a directory and vice versa.
        for key, on_disk in list(objects.items()):
            target = wanted.get(key)
            if target is None or target["where"] != on_disk["where"]:
                self._remove_file(name, key, on_disk)
                del objects[key]
                changed = True
        for key, new in wanted.items():
            old = objects.get(key)
            same_data = old is not None and all(old[field] == new[field] for field in ("etag", "size", "last_modified"))
            if not same_data:
                try:
                    atomic_write(self.object_path(name, key, new), keys[key].value)
                except OSError:
                    if new["where"] != "tree":
                        raise
                    new["where"] = "blob"  # something by hand is in the way
                    atomic_write(self.object_path(name, key, new), keys[key].value)
            if old != new:
                objects[key] = new
                changed = True
        if changed:
            self._write_index(name)

    def _remove_file(self, bucket: str, key: str, record: dict[str, Any]) -> None:
        path = self.object_path(bucket, key, record)
        path.unlink(missing_ok=True)
        stop = self.root / bucket if record.get("where") == "tree" else self.meta / "blobs" / bucket
        parent = path.parent
        while parent != stop and stop in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


# --------------------------------------------------------------------------- WSGI front


def s3_error(start_response: StartResponse, method: str, status: str, code: str, message: str) -> list[bytes]:
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
    headers = [
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(body))),
        ("x-amz-request-id", request_id),
        ("Server", "MinIO"),
    ]
    start_response(status, headers)
    return [] if method == "HEAD" else [body]


class MinioFront:
    def __init__(self, s3_app: Any, store: DiskStore, auth: SignatureChecker) -> None:
        self.s3_app = s3_app
        self.store = store
        self.auth = auth

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        method = str(environ.get("REQUEST_METHOD", "GET"))
        if path.rstrip("/") in HEALTH_PATHS:
            start_response("200 OK", [("Content-Length", "0"), ("Server", "MinIO")])
            return []
        if path.startswith("/moto-api"):
            return s3_error(start_response, method, "403 Forbidden", "AccessDenied", "Access Denied.")
        try:
            self.auth.check(environ)
        except AuthError as exc:
            return s3_error(start_response, method, "403 Forbidden", exc.code, exc.message)
        if method not in MUTATING_METHODS:
            result: Iterable[bytes] = self.s3_app(environ, start_response)
            return result
        with self.store.lock:
            response = self.s3_app(environ, start_response)
            try:
                body = list(response)
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()
            try:
                self.store.sync()
            except Exception as exc:  # never answer success for a write that is not on disk
                log(f"persisting the state failed: {exc!r}")
                raise
        return body


class ConsoleHandler(http.server.BaseHTTPRequestHandler):
    PAGE = b"<!doctype html><title>MinIO Console (drfc stand-in)</title><p>MinIO console stand-in.</p>\n"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.PAGE)))
        self.end_headers()
        self.wfile.write(self.PAGE)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.PAGE)))
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    data_dir, api_address, console_address = parse_command_line(argv)
    os.environ.setdefault("S3_IGNORE_SUBDOMAIN_BUCKETNAME", "true")  # path-style only, like MinIO
    access_key = os.environ.get("MINIO_ROOT_USER") or os.environ.get("MINIO_ACCESS_KEY") or "minioadmin"
    secret_key = os.environ.get("MINIO_ROOT_PASSWORD") or os.environ.get("MINIO_SECRET_KEY") or "minioadmin"
    mode = os.environ.get("STANDIN_AUTH", "sigv4")
    if mode not in {"sigv4", "access-key", "none"}:
        raise SystemExit(f"STANDIN_AUTH must be sigv4, access-key or none, not {mode!r}")

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.s3.models import s3_backends
    from werkzeug.serving import make_server

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    store = DiskStore(data_dir, backend)
    with store.lock:
        store.load()
    app = MinioFront(
        DomainDispatcherApplication(create_backend_app), store, SignatureChecker(access_key, secret_key, mode)
    )

    console = http.server.ThreadingHTTPServer(console_address, ConsoleHandler)
    console.daemon_threads = True
    threading.Thread(target=console.serve_forever, name="console", daemon=True).start()

    server = make_server(*api_address, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(signum: int, _frame: Any) -> None:
        log(f"received signal {signum}, stopping")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"S3 API: http://{api_address[0]}:{api_address[1]} (auth: {mode}, access key {access_key})")
    log(f"Console: http://{console_address[0]}:{console_address[1]}")
    log(f"Data: {data_dir}")
    server.serve_forever()
    with store.lock:  # let a write in flight reach the disk
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
