"""The one S3 facade of drfc: typed verbs over boto3, with failures users can act on.

Everything drfc does with a bucket (the local MinIO store, AWS S3, a remote
MinIO) goes through :class:`S3Store`. It returns the values of
``drfc.core.storage`` and raises only ``drfc.errors`` classes, each naming the
endpoint, bucket, key or profile involved and the fix, so the CLI never shows
"Could not connect to the endpoint URL" on its own. Messages never contain
secrets: only profile names, endpoints, buckets and keys.

The boto3 session and client are created on first use, never in ``__init__``,
so building a store costs nothing and a missing profile is reported by the
first verb that needs it. Timeouts and retries are short on purpose: an
endpoint that does not answer fails in seconds, not minutes.

Syncs are planned by ``drfc.core.sync`` (see its docstring for the skip,
ignore and symlink rules) and carried out here: transfers run on a pool of
:data:`~drfc.core.storage.FILE_WORKERS` threads sharing one client (boto3
clients are thread-safe), each through boto3's transfer manager, which splits
files of :data:`~drfc.core.storage.MULTIPART_THRESHOLD` or more into parts of
:data:`~drfc.core.storage.MULTIPART_CHUNKSIZE`. Downloads are written to a
temporary name in the destination folder and renamed into place, so a killed
sync never leaves a partial file under its final name; the next sync removes
such leftovers and finishes the job.
"""

from __future__ import annotations

import builtins
import functools
import mimetypes
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import boto3
from boto3.s3.transfer import TransferConfig
from botocore import exceptions as bce
from botocore.config import Config

from drfc import __version__
from drfc.core.parallel import run_transfers
from drfc.core.storage import (
    FILE_WORKERS,
    MULTIPART_CHUNKSIZE,
    MULTIPART_THRESHOLD,
    TRANSFER_CONCURRENCY,
    LocalFile,
    RemoteObject,
    S3Target,
    SyncAction,
    SyncPlan,
    SyncProgress,
    SyncResult,
)
from drfc.core.sync import (
    PARTIAL_MARKER,
    ChecksumCache,
    LocalScan,
    folder_prefix,
    plan_copy,
    plan_download,
    plan_upload,
    scan_local,
    stale_partials,
)
from drfc.errors import (
    ConflictError,
    DrfcError,
    NotFoundError,
    S3AccessDeniedError,
    S3BucketMissingError,
    S3CredentialsError,
    S3EndpointUnreachableError,
    S3Error,
    S3TransferError,
)

#: Seconds to wait for a TCP connection before calling the endpoint unreachable.
CONNECT_TIMEOUT = 3
#: Seconds to wait for a response once connected.
READ_TIMEOUT = 60
#: Total attempts per request (the first try plus retries).
MAX_ATTEMPTS = 3
#: Keys per DeleteObjects request (the S3 maximum).
DELETE_BATCH = 1000

_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidClientTokenId",
        "ExpiredTokenException",
    }
)
_DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "403", "Forbidden"})
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_CREDENTIAL_EXCEPTIONS: tuple[type[Exception], ...] = (
    bce.NoCredentialsError,
    bce.PartialCredentialsError,
    bce.CredentialRetrievalError,
    bce.ProfileNotFound,
    bce.NoAuthTokenError,
    bce.TokenRetrievalError,
    bce.SSOError,
    bce.UnknownCredentialError,
)
_BROKEN_CONNECTION: tuple[type[Exception], ...] = (
    bce.ReadTimeoutError,
    bce.ConnectionClosedError,
    bce.ResponseStreamingError,
    bce.IncompleteReadError,
)


def transfer_config() -> TransferConfig:
    """The transfer manager settings; the part size must match the planner's ETag computation."""
    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_CHUNKSIZE,
        max_concurrency=TRANSFER_CONCURRENCY,
        num_download_attempts=3,  # s3transfer's own retries of broken download streams
        use_threads=True,
        preferred_transfer_client="classic",  # the CRT client chooses its own part sizes
    )


def _client_error_code(exc: bce.ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {})
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return str(error.get("Code") or status or "Unknown"), status


def _root_cause(exc: BaseException) -> BaseException:
    """The botocore error behind boto3/s3transfer wrappers (which often drop the type)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (bce.ClientError, bce.BotoCoreError)):
            return current
        last = getattr(current, "last_exception", None)  # s3transfer RetriesExceededError
        current = last if isinstance(last, BaseException) else (current.__cause__ or current.__context__)
    return exc


def checksum_mode() -> Literal["when_supported", "when_required"]:
    """botocore's request checksum setting: ``when_supported`` unless DRFC_S3_CHECKSUMS says otherwise."""
    mode = os.environ.get("DRFC_S3_CHECKSUMS", "").strip().lower()
    return "when_required" if mode == "when_required" else "when_supported"


class S3Store:
    """Typed S3 verbs for one :class:`~drfc.core.storage.S3Target`; safe to share between threads.

    ``cache_dir`` is where sync checksums are remembered (default: the user cache
    folder); ``persist_checksums=False`` keeps them in memory only. ``session`` is a
    boto3 session to use instead of one built from the target's profile: temporary
    credentials that come from elsewhere (DeepRacer on AWS's identity pool).
    """

    def __init__(
        self,
        target: S3Target,
        *,
        cache_dir: Path | None = None,
        persist_checksums: bool = True,
        session: boto3.session.Session | None = None,
    ) -> None:
        self.target = target
        self._cache_dir = cache_dir
        self._persist = persist_checksums
        self._session = session
        self._built_session: boto3.session.Session | None = None
        self._client: Any = None
        self._lock = threading.Lock()
        self._shares: dict[int, bool] = {}  # shares_endpoint_with answers, by id of the other store

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created on first use with short timeouts and few retries."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    with self._errors("connect"):
                        self._client = self._build_client()
        return self._client

    def _boto_session(self) -> boto3.session.Session:
        """The session given to the constructor, else one built once from the target's profile and region.

        The client, presigned links and ``credentials_id`` share it, so the profile is resolved once.
        """
        if self._session is not None:
            return self._session
        if self._built_session is None:
            self._built_session = boto3.session.Session(
                profile_name=self.target.profile or None,
                region_name=self.target.region or None,
            )
        return self._built_session

    def _build_client(self) -> Any:
        session = self._boto_session()
        config = Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            max_pool_connections=FILE_WORKERS * TRANSFER_CONCURRENCY,
            # Streaming CRC32 trailers (botocore's default) avoid a separate SHA-256 pass over every body
            # on plain-HTTP endpoints such as the local MinIO; S3-compatible servers too old for them
            # can be served with DRFC_S3_CHECKSUMS=when_required.
            request_checksum_calculation=checksum_mode(),
            response_checksum_validation="when_required",
            user_agent_extra=f"drfc/{__version__}",
        )
        return session.client("s3", endpoint_url=self.target.endpoint_url or None, config=config)

    @property
    def endpoint(self) -> str:
        """The endpoint in use, for messages: explicit, resolved by botocore, or from the environment."""
        if self._client is not None:
            return str(self._client.meta.endpoint_url)
        if self.target.endpoint_url:
            return self.target.endpoint_url
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
            if os.environ.get(name):
                return os.environ[name]
        return "the AWS S3 endpoint"

    def _where(self) -> str:
        return f"{self.target.label} ({self.endpoint})"

    def _credentials_hint(self) -> str:
        if self.target.profile:
            return f"check or create the keys with `aws configure --profile {self.target.profile}`"
        return (
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run `aws configure`, "
            "or run on a machine with an instance role"
        )

    @contextmanager
    def _errors(self, doing: str, key: str | None = None, bucket: str | None = None) -> Iterator[None]:
        """Turn any boto3/botocore/s3transfer/local I/O failure into a drfc error."""
        try:
            yield
        except DrfcError:
            raise
        except Exception as exc:
            raise self.translate(exc, doing, key=key, bucket=bucket) from exc

    def translate(
        self, exc: BaseException, doing: str, *, key: str | None = None, bucket: str | None = None
    ) -> DrfcError:
        """The drfc error for a failure while ``doing`` something (public for the CLI's last resort)."""
        bucket = bucket or self.target.bucket
        cause = _root_cause(exc)
        subject = f"s3://{bucket}/{key}" if key else f"bucket '{bucket}'"
        context = f" while trying to {doing} {subject}"
        if isinstance(cause, bce.ConnectionError):  # refused, DNS failure, connect timeout, proxy
            return S3EndpointUnreachableError(
                f"{self._where()} does not answer{context}",
                hint=self.target.unreachable_hint or "check the endpoint URL and that the S3 server is running",
            )
        if isinstance(cause, bce.ProfileNotFound):
            return S3CredentialsError(
                f"AWS profile '{self.target.profile}' does not exist (looked in ~/.aws/config and "
                f"~/.aws/credentials, or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE)",
                hint=self._credentials_hint(),
            )
        if isinstance(cause, _CREDENTIAL_EXCEPTIONS):
            return S3CredentialsError(
                f"no usable S3 credentials in {self.target.describe_credentials()} for {self._where()} "
                f"({type(cause).__name__})",
                hint=self._credentials_hint(),
            )
        if isinstance(cause, bce.ClientError):
            return self._from_client_error(cause, key, bucket, context)
        if isinstance(cause, _BROKEN_CONNECTION):
            return S3TransferError(
                f"the connection to {self._where()} broke{context} ({type(cause).__name__}); "
                "nothing is left half-written, run the command again",
                hint=self.target.unreachable_hint,
            )
        if isinstance(cause, OSError) and not isinstance(cause, bce.BotoCoreError):
            where = f" ({cause.filename})" if cause.filename else ""
            return S3TransferError(f"local file error{context}: {cause.strerror or cause}{where}")
        name = type(cause).__name__
        text = f"{name}{context}: {cause}"
        return S3TransferError(text) if key else S3Error(text)

    def _from_client_error(self, cause: bce.ClientError, key: str | None, bucket: str, context: str) -> DrfcError:
        code, status = _client_error_code(cause)
        if code in _CREDENTIAL_CODES:
            return S3CredentialsError(
                f"{self._where()} rejected the credentials of {self.target.describe_credentials()} ({code})",
                hint=self._credentials_hint() + "; for a local MinIO they must be the keys the server was started with",
            )
        if code == "NoSuchBucket":
            return self._bucket_missing(bucket)
        if code in _DENIED_CODES or status == 403:
            return S3AccessDeniedError(
                f"access denied{context} at {self._where()} for {self.target.describe_credentials()} ({code})",
                hint="check the IAM or bucket policy that applies to these credentials",
            )
        if key and (code in _MISSING_KEY_CODES or status == 404):
            return NotFoundError(f"s3://{bucket}/{key} does not exist at {self._where()}")
        if code in ("PermanentRedirect", "301", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
            region = cause.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
            found = f" (the bucket is in {region})" if region else ""
            return S3Error(
                f"bucket '{bucket}' is not in region {self.target.region}{found} ({code})",
                hint="set the region of the bucket (DR_AWS_APP_REGION) and try again",
            )
        message = cause.response.get("Error", {}).get("Message") or ""
        detail = f"{code}: {message}" if message else code
        return (S3TransferError if key else S3Error)(f"S3 refused{context} ({detail})")

    def _bucket_missing(self, bucket: str | None = None) -> S3BucketMissingError:
        return S3BucketMissingError(
            f"bucket '{bucket or self.target.bucket}' does not exist at {self._where()}",
            hint="create it (`drfc storage start` does this for the local store) or check the bucket name",
        )

    def _explain_head_failure(self, exc: bce.ClientError, doing: str, key: str | None) -> DrfcError:
        """HEAD responses carry no error body; ask with a GET so 403/400 can be told apart."""
        try:
            self.client.list_objects_v2(Bucket=self.target.bucket, MaxKeys=1)
        except Exception as probe:
            return self.translate(probe, doing, key=key)
        return self.translate(exc, doing, key=key)

    def _cache(self, root: Path) -> ChecksumCache:
        if not self._persist:
            return ChecksumCache(None)
        return ChecksumCache.for_root(root, self._cache_dir)

    # ------------------------------------------------------------------ buckets

    def bucket_exists(self) -> bool:
        """True when the bucket exists; credential, access and endpoint problems raise instead."""
        with self._errors("check"):
            try:
                self.client.head_bucket(Bucket=self.target.bucket)
            except bce.ClientError as exc:
                code, status = _client_error_code(exc)
                if code in ("NoSuchBucket", "404", "NotFound") or status == 404:
                    return False
                raise self._explain_head_failure(exc, "check", None) from exc
        return True

    def ensure_bucket(self) -> bool:
        """Create the bucket in the target's region if it is missing; True when it was created."""
        if self.bucket_exists():
            return False
        kwargs: dict[str, Any] = {"Bucket": self.target.bucket}
        region = self.target.region
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with self._errors("create"):
            try:
                self.client.create_bucket(**kwargs)
            except bce.ClientError as exc:
                code, _ = _client_error_code(exc)
                if code == "BucketAlreadyOwnedByYou":
                    return False
                if code == "BucketAlreadyExists":
                    raise ConflictError(
                        f"bucket name '{self.target.bucket}' is taken by another account at {self._where()}",
                        hint="bucket names are global on AWS; choose another name",
                    ) from exc
                raise
        return True

    # ------------------------------------------------------------------ objects

    def list(self, prefix: str = "", *, folder: bool = True) -> builtins.list[RemoteObject]:
        """Every object under ``prefix``, all pages, in key order.

        With ``folder`` (the default) the prefix means a folder: ``"a/b"`` lists
        ``a/b/...`` but not ``a/bc``. ``folder=False`` matches the raw prefix.
        """
        return self._list(self.target.bucket, prefix, folder=folder)

    def _list(self, bucket: str, prefix: str, *, folder: bool = True) -> builtins.list[RemoteObject]:
        raw = folder_prefix(prefix) if folder else prefix
        found: builtins.list[RemoteObject] = []
        with self._errors("list", key=raw or None, bucket=bucket):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=raw):
                for item in page.get("Contents", ()):
                    found.append(
                        RemoteObject(
                            key=item["Key"],
                            size=int(item.get("Size", 0)),
                            etag=str(item.get("ETag", "")).strip('"'),
                            last_modified=item.get("LastModified"),
                        )
                    )
        return found

    def prefix_is_empty(self, prefix: str) -> bool:
        """True when nothing is stored under the folder ``prefix`` (``""`` means the whole bucket)."""
        with self._errors("list", key=folder_prefix(prefix) or None):
            page = self.client.list_objects_v2(Bucket=self.target.bucket, Prefix=folder_prefix(prefix), MaxKeys=1)
        return not page.get("Contents")

    def head(self, key: str) -> RemoteObject | None:
        """The object's size and ETag, or None when it does not exist (a missing bucket raises)."""
        with self._errors("read", key=key):
            try:
                meta = self.client.head_object(Bucket=self.target.bucket, Key=key)
            except bce.ClientError as exc:
                code, status = _client_error_code(exc)
                if code in _MISSING_KEY_CODES or status == 404:
                    if not self.bucket_exists():
                        raise self._bucket_missing() from exc
                    return None
                raise self._explain_head_failure(exc, "read", key) from exc
        return RemoteObject(
            key=key,
            size=int(meta.get("ContentLength", 0)),
            etag=str(meta.get("ETag", "")).strip('"'),
            last_modified=meta.get("LastModified"),
        )

    def exists(self, key: str) -> bool:
        """True when the object exists."""
        return self.head(key) is not None

    def get_bytes(self, key: str) -> bytes:
        """The whole object in memory (for small files: YAML, JSON, reward functions)."""
        with self._errors("read", key=key):
            response = self.client.get_object(Bucket=self.target.bucket, Key=key)
            return bytes(response["Body"].read())

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Write a whole object from memory."""
        extra = {"ContentType": content_type} if content_type else {}
        with self._errors("write", key=key):
            self.client.put_object(Bucket=self.target.bucket, Key=key, Body=data, **extra)

    def upload_file(
        self,
        path: Path,
        key: str,
        *,
        content_type: str | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """Upload one file through the transfer manager (multipart above the threshold)."""
        content_type = content_type or mimetypes.guess_type(str(path), strict=False)[0]
        extra = {"ContentType": content_type} if content_type else None
        with self._errors("upload to", key=key):
            self.client.upload_file(
                str(path), self.target.bucket, key, ExtraArgs=extra, Callback=on_bytes, Config=transfer_config()
            )

    def download_file(self, key: str, path: Path, *, on_bytes: Callable[[int], None] | None = None) -> None:
        """Download one object; ``path`` only ever holds a complete file (temp name, then rename)."""
        path = Path(path)
        with self._errors("download", key=key):
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(f".{path.name[:150]}{PARTIAL_MARKER}{secrets.token_hex(4)}")
            try:
                with open(temp, "wb") as fh:
                    self.client.download_fileobj(
                        self.target.bucket, key, fh, Callback=on_bytes, Config=transfer_config()
                    )
                os.replace(temp, path)
            finally:
                temp.unlink(missing_ok=True)

    def copy(
        self,
        src_key: str,
        dst_key: str,
        src_bucket: str | None = None,
        *,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """Server-side copy into the target bucket (multipart for large objects); no bytes pass through here."""
        source = {"Bucket": src_bucket or self.target.bucket, "Key": src_key}
        with self._errors("copy to", key=dst_key):
            self.client.copy(source, self.target.bucket, dst_key, Callback=on_bytes, Config=transfer_config())

    def presign(self, key: str, *, expires: int = 3600) -> str:
        """A link anyone can GET ``key`` with for ``expires`` seconds (signed here; no request is made).

        The scheme is the endpoint's: HTTPS on AWS S3, whatever the MinIO endpoint uses otherwise.
        SigV4 links live at most 7 days.
        """
        if not 1 <= expires <= 7 * 24 * 3600:
            raise S3Error(f"a presigned link lives 1 second to 7 days, not {expires} seconds")
        with self._errors("sign a link to", key=key):
            session = self._boto_session()
            # botocore still signs links with SigV2 unless told otherwise, which newer AWS regions refuse
            signer = session.client(
                "s3", endpoint_url=self.target.endpoint_url or None, config=Config(signature_version="s3v4")
            )
            url = signer.generate_presigned_url(
                "get_object", Params={"Bucket": self.target.bucket, "Key": key}, ExpiresIn=expires
            )
        return str(url)

    def credentials_id(self) -> str | None:
        """The access key id this store signs with (an identifier, not a secret); None without credentials."""
        with self._errors("connect"):
            credentials = self._boto_session().get_credentials()
        return str(credentials.access_key) if credentials is not None else None

    def shares_endpoint_with(self, other: S3Store) -> bool:
        """True when ``other``'s objects can be copied server-side by this store: same S3 service, same keys.

        Any two AWS S3 endpoints count as one service (CopyObject works across regions).
        """
        if other is self or (self._client is not None and other._client is self._client):
            return True
        with self._lock:
            if id(other) in self._shares:
                return self._shares[id(other)]

        def service(store: S3Store) -> str:
            url = str(store.client.meta.endpoint_url).rstrip("/")
            host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
            return "aws" if host.endswith(".amazonaws.com") else url

        shared = service(self) == service(other) and self.credentials_id() == other.credentials_id()
        with self._lock:
            self._shares[id(other)] = shared
        return shared

    def reuse_for(self, target: S3Target) -> S3Store | None:
        """A store for ``target`` on this store's client, or None.

        Only when ``target`` uses the same profile and an endpoint known to equal this one (given
        explicitly, or by AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL): then one client serves both
        buckets, which saves building a second one (~75 ms of botocore start-up) and makes copies
        between them server-side.
        """
        if self._session is not None or target.profile != self.target.profile:
            return None
        if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
            return None
        wanted = target.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if not wanted or wanted.rstrip("/") != str(self.client.meta.endpoint_url).rstrip("/"):
            return None
        store = S3Store(target, cache_dir=self._cache_dir, persist_checksums=self._persist)
        store._client = self.client
        store._built_session = self._built_session
        return store

    def copy_from(
        self,
        source: S3Store,
        src_key: str,
        dst_key: str,
        *,
        on_bytes: Callable[[int], None] | None = None,
        known: RemoteObject | None = None,
    ) -> None:
        """Copy one object of another store here: server-side when possible, else streamed through this
        machine (one GET feeding a multipart upload, no temporary file). A failure leaves no partial object.

        ``known`` is the source object as listed: its size and ETag spare the transfer manager the
        HeadObject it would send first (and a multipart copy is pinned to that ETag).
        """
        if self.shares_endpoint_with(source):
            if known is not None and known.etag:
                self._copy_known(known, source.target.bucket, dst_key, on_bytes)
            else:
                self.copy(src_key, dst_key, src_bucket=source.target.bucket, on_bytes=on_bytes)
            return
        with source._errors("read", key=src_key):
            body = source.client.get_object(Bucket=source.target.bucket, Key=src_key)["Body"]
        try:
            reader = _SourceReader(body, source, src_key)
            with self._errors("upload to", key=dst_key):
                self.client.upload_fileobj(
                    reader, self.target.bucket, dst_key, Callback=on_bytes, Config=transfer_config()
                )
        finally:
            body.close()

    def _copy_known(
        self, known: RemoteObject, src_bucket: str, dst_key: str, on_bytes: Callable[[int], None] | None
    ) -> None:
        """Server-side copy through the transfer manager, told the size and ETag up front."""
        from s3transfer.manager import TransferManager
        from s3transfer.subscribers import BaseSubscriber

        class Known(BaseSubscriber):
            def on_queued(self, future: Any, **kwargs: Any) -> None:
                future.meta.provide_transfer_size(known.size)
                future.meta.provide_object_etag(f'"{known.etag}"')

            def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
                if on_bytes is not None:
                    on_bytes(bytes_transferred)

        source = {"Bucket": src_bucket, "Key": known.key}
        with self._errors("copy to", key=dst_key), TransferManager(self.client, transfer_config()) as manager:
            manager.copy(source, self.target.bucket, dst_key, subscribers=[Known()]).result()

    def digest(self, key: str) -> str:
        """SHA-256 (hex) of the object's content, read in 1 MiB blocks (to verify a copy whose ETag differs)."""
        import hashlib

        hasher = hashlib.sha256()
        with self._errors("read", key=key):
            body = self.client.get_object(Bucket=self.target.bucket, Key=key)["Body"]
            try:
                for block in body.iter_chunks(1024 * 1024):
                    hasher.update(block)
            finally:
                body.close()
        return hasher.hexdigest()

    def delete_keys(self, keys: Iterable[str]) -> int:
        """Delete exactly these keys (never a prefix), 1000 per request; returns how many were asked."""
        wanted = builtins.list(dict.fromkeys(keys))
        for start in range(0, len(wanted), DELETE_BATCH):
            batch = wanted[start : start + DELETE_BATCH]
            with self._errors("delete", key=batch[0]):
                response = self.client.delete_objects(
                    Bucket=self.target.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            failures = response.get("Errors") or []
            if failures:
                first = failures[0]
                names = ", ".join(str(f.get("Key")) for f in failures[:5])
                more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
                cls = S3AccessDeniedError if first.get("Code") == "AccessDenied" else S3TransferError
                raise cls(
                    f"could not delete {len(failures)} object(s) from bucket '{self.target.bucket}' "
                    f"({first.get('Code')}): {names}{more}"
                )
        return len(wanted)

    def delete_prefix(self, prefix: str) -> int:
        """Delete everything under the folder ``prefix``; refuses the whole bucket (``""``)."""
        if not folder_prefix(prefix):
            raise ConflictError("refusing to delete every object in the bucket (empty prefix)")
        return self.delete_keys(obj.key for obj in self.list(prefix))

    # ------------------------------------------------------------------ syncs

    def sync_up(
        self,
        local_dir: Path,
        prefix: str,
        *,
        delete: bool = False,
        dry_run: bool = False,
        progress: SyncProgress | None = None,
    ) -> SyncResult:
        """Make the folder ``prefix`` mirror ``local_dir``: upload new and changed files.

        Unreadable source files fail the whole sync before anything is sent.
        ``delete`` also removes keys under ``prefix`` that have no local file.
        """
        started = time.monotonic()
        scan = scan_local(Path(local_dir), check_readable=True)
        scan.raise_if_unreadable("upload")
        remote = self.list(prefix)
        cache = self._cache(scan.root)
        plan = plan_upload(scan, remote, prefix, same_content=lambda f, o: cache.matches(f, o.etag), delete=delete)
        cache.save(keep=[f.relpath for f in scan.files])
        if not dry_run:
            self._execute(plan, progress)
        return SyncResult.from_plan(plan, seconds=time.monotonic() - started, dry_run=dry_run)

    def sync_down(
        self,
        prefix: str,
        local_dir: Path,
        *,
        delete: bool = False,
        dry_run: bool = False,
        progress: SyncProgress | None = None,
    ) -> SyncResult:
        """Make ``local_dir`` mirror the folder ``prefix``: download new and changed objects.

        ``delete`` also removes local files that have no object under ``prefix``.
        Leftover partial downloads from an interrupted run are removed first.
        """
        started = time.monotonic()
        root = Path(local_dir)
        if root.exists() or not dry_run:
            root.mkdir(parents=True, exist_ok=True)
            if not dry_run:
                for leftover in stale_partials(root):
                    leftover.unlink(missing_ok=True)
            scan = scan_local(root, check_readable=False)
        else:
            scan = LocalScan(root=root, files=())
        remote = self.list(prefix)
        cache = self._cache(root)
        plan = plan_download(remote, prefix, scan, same_content=lambda f, o: cache.matches(f, o.etag), delete=delete)
        try:
            if not dry_run:
                self._execute(plan, progress, cache=cache, local_root=root)
        finally:
            if root.exists():
                cache.save()
        return SyncResult.from_plan(plan, seconds=time.monotonic() - started, dry_run=dry_run)

    def copy_prefix(
        self,
        src_prefix: str,
        dst_prefix: str,
        *,
        src_bucket: str | None = None,
        delete: bool = False,
        dry_run: bool = False,
        progress: SyncProgress | None = None,
    ) -> SyncResult:
        """Make the folder ``dst_prefix`` mirror ``src_prefix`` (optionally of another bucket), server-side."""
        started = time.monotonic()
        source_bucket = src_bucket or self.target.bucket
        src, dst = folder_prefix(src_prefix), folder_prefix(dst_prefix)
        if source_bucket == self.target.bucket and (src.startswith(dst) or dst.startswith(src)):
            raise ConflictError(
                f"cannot copy '{src or '/'}' to '{dst or '/'}' in bucket '{source_bucket}': "
                "one folder contains the other"
            )
        source = self._list(source_bucket, src_prefix)
        dest = self.list(dst_prefix)
        plan = plan_copy(source, src_prefix, dest, dst_prefix, delete=delete)
        if not dry_run:
            self._execute(plan, progress, src_bucket=source_bucket)
        return SyncResult.from_plan(plan, seconds=time.monotonic() - started, dry_run=dry_run)

    # ------------------------------------------------------------------ execution

    def _execute(
        self,
        plan: SyncPlan,
        progress: SyncProgress | None,
        *,
        cache: ChecksumCache | None = None,
        local_root: Path | None = None,
        src_bucket: str | None = None,
    ) -> None:
        """Run transfers on the worker pool, then deletes; the first failure stops what has not started."""
        transfers, deletes = plan.transfers, plan.deletes
        if progress is not None:
            progress.start(len(transfers) + len(deletes), plan.transfer_bytes)
        try:
            self._run_transfers(transfers, progress, cache, local_root, src_bucket)
            self._run_deletes(deletes, progress)
        finally:
            if progress is not None:
                progress.finish()

    def _transfer(
        self,
        action: SyncAction,
        progress: SyncProgress | None,
        cache: ChecksumCache | None,
        local_root: Path | None,
        src_bucket: str | None,
    ) -> None:
        on_bytes = progress.advance if progress is not None else None
        if action.kind == "upload":
            assert action.path is not None
            self.upload_file(action.path, action.key, on_bytes=on_bytes)
        elif action.kind == "download":
            assert action.path is not None
            self.download_file(action.key, action.path, on_bytes=on_bytes)
            if cache is not None and local_root is not None and action.etag:
                st = action.path.stat()
                relpath = action.path.relative_to(local_root).as_posix()
                cache.remember(LocalFile(relpath, action.path, st.st_size, st.st_mtime_ns), action.etag)
        elif action.kind == "copy":
            assert action.source_key is not None
            self.copy(action.source_key, action.key, src_bucket=src_bucket, on_bytes=on_bytes)
        if progress is not None:
            progress.file_done(action)

    def _run_transfers(
        self,
        transfers: tuple[SyncAction, ...],
        progress: SyncProgress | None,
        cache: ChecksumCache | None,
        local_root: Path | None,
        src_bucket: str | None,
    ) -> None:
        jobs = [
            functools.partial(self._transfer, action, progress, cache, local_root, src_bucket) for action in transfers
        ]
        run_transfers(jobs, workers=FILE_WORKERS, name="drfc-s3", translate=lambda exc: self.translate(exc, "transfer"))

    def _run_deletes(self, deletes: tuple[SyncAction, ...], progress: SyncProgress | None) -> None:
        """Remote deletes in batches, local deletes one by one; only after every transfer succeeded."""
        remote = [action for action in deletes if action.path is None]
        local = [action for action in deletes if action.path is not None]
        for start in range(0, len(remote), DELETE_BATCH):
            batch = remote[start : start + DELETE_BATCH]
            self.delete_keys(action.key for action in batch)
            if progress is not None:
                for action in batch:
                    progress.file_done(action)
        for action in local:
            assert action.path is not None
            try:
                action.path.unlink(missing_ok=True)
            except OSError as exc:
                raise S3TransferError(f"could not delete local file {action.path}: {exc.strerror}") from exc
            if progress is not None:
                progress.file_done(action)


class _SourceReader:
    """A non-seekable reader over a GET body whose failures name the source object, not the target."""

    def __init__(self, body: Any, store: S3Store, key: str) -> None:
        self._body = body
        self._store = store
        self._key = key

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        try:
            return bytes(self._body.read(size if size >= 0 else None))
        except DrfcError:
            raise
        except Exception as exc:
            raise self._store.translate(exc, "read", key=self._key) from exc
