"""Typed values for everything drfc does with S3: where, what, and what a sync did.

These are plain frozen values so the planner (``drfc.core.sync``), the adapter
(``drfc.adapters.s3``) and the CLI can share them without any of them importing
boto3. The multipart constants live here because two layers must agree on them:
the adapter uploads with this part size, and the planner recomputes multipart
ETags with the same size to tell whether a local file equals a remote object.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

MiB = 1024 * 1024

#: Files at or above this size are uploaded in parts (boto3's transfer manager rule: ``size >= threshold``).
MULTIPART_THRESHOLD = 8 * MiB
#: Size of each part; shared with the local multipart-ETag computation.
MULTIPART_CHUNKSIZE = 8 * MiB
#: S3's limit on parts per upload; beyond it the part size is doubled until the file fits.
MAX_PARTS = 10_000
#: Parallel requests per multipart transfer.
TRANSFER_CONCURRENCY = 10
#: Files transferred at the same time by a sync.
FILE_WORKERS = 8


@dataclass(frozen=True)
class S3Target:
    """One bucket at one endpoint with one way to authenticate.

    ``endpoint_url=None`` lets botocore resolve the endpoint, which honours
    ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL`` and a profile's ``endpoint_url``.
    ``profile=None`` uses the default credential chain (environment, shared
    files, instance or task roles). ``label`` and ``unreachable_hint`` only feed
    error messages, so users are told *which* store is down and how to start it.
    """

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    profile: str | None = None
    label: str = "S3"
    unreachable_hint: str | None = None

    def describe_credentials(self) -> str:
        """How credentials are looked up, for messages (never the credentials themselves)."""
        return f"profile '{self.profile}'" if self.profile else "the default credential chain"


@dataclass(frozen=True)
class RemoteObject:
    """One object as listed: enough to decide whether a transfer is needed."""

    key: str
    size: int
    etag: str
    last_modified: datetime | None = None

    @property
    def is_multipart(self) -> bool:
        """Multipart ETags end in ``-<parts>`` and are not an MD5 of the content."""
        return "-" in self.etag


@dataclass(frozen=True)
class LocalFile:
    """One regular file under a sync root; ``relpath`` is POSIX-style and maps to the key."""

    relpath: str
    path: Path
    size: int
    mtime_ns: int


SyncKind = Literal["upload", "download", "copy", "delete", "skip"]


@dataclass(frozen=True)
class SyncAction:
    """One planned (or done) step of a sync, with the reason it was chosen.

    ``key`` is the destination key for uploads and copies, the source key for
    downloads, and the deleted key when deleting remotely. ``path`` is the local
    file involved, if any. ``source_key`` is set only for server-side copies.
    """

    kind: SyncKind
    key: str
    path: Path | None
    size: int
    reason: str
    source_key: str | None = None
    etag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view for ``--format json`` output."""
        data: dict[str, Any] = {"kind": self.kind, "key": self.key, "size": self.size, "reason": self.reason}
        if self.path is not None:
            data["path"] = str(self.path)
        if self.source_key is not None:
            data["source_key"] = self.source_key
        return data


@dataclass(frozen=True)
class SyncPlan:
    """Every action of a sync, decided before anything is transferred."""

    actions: tuple[SyncAction, ...] = ()

    def of_kind(self, kind: SyncKind) -> tuple[SyncAction, ...]:
        """The actions of one kind, in plan order."""
        return tuple(action for action in self.actions if action.kind == kind)

    @property
    def transfers(self) -> tuple[SyncAction, ...]:
        """Uploads, downloads and copies: the actions that move bytes."""
        return tuple(a for a in self.actions if a.kind in ("upload", "download", "copy"))

    @property
    def deletes(self) -> tuple[SyncAction, ...]:
        return self.of_kind("delete")

    @property
    def skips(self) -> tuple[SyncAction, ...]:
        return self.of_kind("skip")

    @property
    def transfer_bytes(self) -> int:
        """Bytes the transfers will move."""
        return sum(action.size for action in self.transfers)

    def counts(self) -> dict[str, int]:
        """Number of actions per kind (every kind present, zero when unused)."""
        totals = {kind: 0 for kind in ("upload", "download", "copy", "delete", "skip")}
        for action in self.actions:
            totals[action.kind] += 1
        return totals


@dataclass(frozen=True)
class SyncResult:
    """What a sync did (or, with ``dry_run``, would do)."""

    uploaded: int = 0
    downloaded: int = 0
    copied: int = 0
    skipped: int = 0
    deleted: int = 0
    bytes: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    actions: tuple[SyncAction, ...] = field(default=())

    @classmethod
    def from_plan(cls, plan: SyncPlan, *, seconds: float, dry_run: bool) -> SyncResult:
        """Totals of a plan that was carried out completely (or only shown, for a dry run)."""
        counts = plan.counts()
        return cls(
            uploaded=counts["upload"],
            downloaded=counts["download"],
            copied=counts["copy"],
            skipped=counts["skip"],
            deleted=counts["delete"],
            bytes=plan.transfer_bytes,
            seconds=seconds,
            dry_run=dry_run,
            actions=plan.actions,
        )

    @property
    def changed(self) -> bool:
        """True when anything was (or would be) transferred or deleted."""
        return bool(self.uploaded or self.downloaded or self.copied or self.deleted)

    def to_dict(self, *, with_actions: bool = False) -> dict[str, Any]:
        """A JSON-ready summary; the per-action list only when asked (it can be long)."""
        data = summary_dict(self, leave_out="actions")
        if with_actions:
            data["actions"] = [action.to_dict() for action in self.actions]
        return data


def summary_dict(result: Any, *, leave_out: str) -> dict[str, Any]:
    """A result dataclass's fields in declaration order, ``seconds`` rounded to the millisecond, less
    ``leave_out`` (its per-action list, which callers add only when asked)."""
    data = {f.name: getattr(result, f.name) for f in fields(result) if f.name != leave_out}
    data["seconds"] = round(data["seconds"], 3)
    return data


class SyncProgress(Protocol):
    """Receives progress of a sync; the CLI renders it (for example with rich).

    ``start`` and ``finish`` are called on the thread that called the sync.
    ``advance`` and ``file_done`` are called from transfer worker threads, possibly
    several at once, so an implementation must be thread-safe (rich's
    ``Progress.advance`` already is). ``finish`` is called even when the sync fails.
    Skips are not reported: ``files`` counts transfers and deletes only.
    """

    def start(self, files: int, nbytes: int) -> None:
        """The plan is known: ``files`` actions will run, moving ``nbytes`` bytes."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes were moved (many calls per file; negative when a retry rewinds)."""

    def file_done(self, action: SyncAction) -> None:
        """One action finished successfully."""

    def finish(self) -> None:
        """The sync ended, successfully or not."""
