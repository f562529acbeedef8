"""Planning a directory sync with S3, in either direction, before anything moves.

The adapter lists the remote side and carries the plan out; everything that
decides *what* to transfer lives here, so it can be tested without a server.

Rules, in one place:

* **Unchanged detection.** A file is skipped when its size equals the object's
  size *and* its content checksum equals the object's ETag: the MD5 for
  single-part objects, or the multipart ETag (MD5 of the parts' MD5s, ``-N``)
  recomputed locally with the part size the adapter uploads with
  (:data:`~drfc.core.storage.MULTIPART_CHUNKSIZE`, doubled like boto3 does for
  files over 10,000 parts) and a few other common client part sizes
  (5, 16, 64, 128 MiB). An ETag that is neither (for example an SSE-KMS object
  on AWS), or whose part count no candidate part size produces, counts as
  changed, so the worst case is a needless transfer, never a missed one.
  Modification times are never trusted on their own; they only key the
  checksum cache.
* **Checksum cache.** Checksums are cached per sync root in a small JSON file
  (under :func:`default_cache_dir` unless the caller passes a folder), keyed by
  relative path, size and ``mtime_ns``. Entries for files modified in the last
  two seconds are not persisted (a write in the same timestamp tick could keep
  size and mtime), and a corrupt or unwritable cache is ignored.
* **Ignored names** (never uploaded, downloaded or deleted, on either side; a
  match on any path segment ignores the whole subtree): :data:`IGNORED_NAMES`
  and :data:`IGNORED_PATTERNS` (macOS and Windows folder litter, Python
  bytecode, editor swap and backup files, and drfc's own partial downloads).
* **Symlinks.** A symlink to a regular file is followed: its target's content
  is synced under the link's name. A symlink to a directory is *not* followed
  (no loops, no escaping the tree); it becomes a ``skip`` action, and remote
  keys under that name are neither deleted (upload) nor written through the
  link (download). A dangling symlink, a symlink loop, or a symlink to anything
  other than a regular file is unreadable.
* **Unreadable sources fail early.** Before an upload plan is made, every
  source file is stat-ed and opened; FIFOs, sockets, devices, dangling links and
  files or folders that cannot be opened are all reported together in one
  error naming each of them, and nothing is transferred.
* **Deletion is opt-in** (``delete=True``), and only ever touches keys or files
  under the synced folder.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drfc.core.storage import (
    MAX_PARTS,
    MULTIPART_CHUNKSIZE,
    LocalFile,
    MiB,
    RemoteObject,
    SyncAction,
    SyncPlan,
)
from drfc.errors import NotFoundError, S3TransferError

#: Exact file or folder names that are never synced.
IGNORED_NAMES: frozenset[str] = frozenset(
    {
        ".DS_Store",  # macOS Finder metadata
        "Thumbs.db",  # Windows Explorer thumbnails
        "desktop.ini",  # Windows folder settings
        "__pycache__",  # Python bytecode folders
        ".ipynb_checkpoints",  # Jupyter autosaves
    }
)
#: Glob patterns (matched against one name) that are never synced.
IGNORED_PATTERNS: tuple[str, ...] = (
    "._*",  # macOS AppleDouble resource forks
    "*.pyc",
    "*.pyo",
    "*.swp",  # vim swap files
    "*.swo",
    "*.swx",
    "*~",  # editor backups
    ".#*",  # emacs lock files
    "#*#",  # emacs autosaves
    "*.drfc-part-*",  # drfc's own partial downloads
)

#: Marker in the temporary name a download is written to before it is renamed into place.
PARTIAL_MARKER = ".drfc-part-"

#: Part sizes other common S3 clients use, tried when the remote part count does not match ours.
OTHER_PART_SIZES: tuple[int, ...] = (5 * MiB, 8 * MiB, 16 * MiB, 64 * MiB, 128 * MiB)

_READ_BLOCK = 1 * MiB
_RACY_NS = 2_000_000_000
_CACHE_VERSION = 1


def is_ignored(name: str) -> bool:
    """True for one path segment that drfc never syncs (see the module docstring)."""
    return name in IGNORED_NAMES or any(fnmatch.fnmatchcase(name, pattern) for pattern in IGNORED_PATTERNS)


# --------------------------------------------------------------------------- keys


def folder_prefix(prefix: str) -> str:
    """``"a/b"``, ``"/a/b/"`` → ``"a/b/"``; ``""`` → ``""``: a prefix always means a folder."""
    stripped = prefix.strip("/")
    return f"{stripped}/" if stripped else ""


def join_key(prefix: str, relpath: str) -> str:
    """The key of ``relpath`` inside the folder ``prefix``."""
    return folder_prefix(prefix) + relpath


def relative_key(prefix: str, key: str) -> str | None:
    """The part of ``key`` below the folder ``prefix``, or None when it is not below it."""
    folder = folder_prefix(prefix)
    if not key.startswith(folder):
        return None
    return key[len(folder) :]


def _safe_segments(relkey: str) -> list[str] | None:
    """The path segments of a relative key, or None if it cannot be a local path safely."""
    segments = relkey.split("/")
    if any(seg in ("", ".", "..") or "\x00" in seg for seg in segments):
        return None
    return segments


# --------------------------------------------------------------------------- local scan


@dataclass(frozen=True)
class LocalProblem:
    """A file under a sync root that cannot be read, and why."""

    relpath: str
    path: Path
    reason: str


@dataclass(frozen=True)
class LocalScan:
    """Regular files under a root, symlinked folders left alone, and unreadable entries."""

    root: Path
    files: tuple[LocalFile, ...]
    linked_dirs: tuple[str, ...] = ()
    problems: tuple[LocalProblem, ...] = ()

    def raise_if_unreadable(self, doing: str) -> None:
        """Fail before any transfer, naming every unreadable file at once."""
        if not self.problems:
            return
        lines = [f"  {p.path}: {p.reason}" for p in self.problems]
        count = len(self.problems)
        noun = "entry" if count == 1 else "entries"
        raise S3TransferError(
            f"cannot {doing} {self.root}: {count} {noun} cannot be read, so nothing was transferred:\n"
            + "\n".join(lines),
            hint="fix or remove them (or move them out of the folder) and run the command again",
        )


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def scan_local(root: Path, *, check_readable: bool = True) -> LocalScan:
    """Walk ``root`` (which must be a folder) by the ignore and symlink rules of this module.

    With ``check_readable`` every regular file is also opened once, so a file that
    cannot be read is reported now rather than half-way through an upload.
    """
    root = Path(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise NotFoundError(f"{root} {what}")
    files: list[LocalFile] = []
    linked: list[str] = []
    problems: list[LocalProblem] = []
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, rel_folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            problems.append(LocalProblem(rel_folder or ".", folder, f"cannot list folder ({exc.strerror})"))
            continue
        for entry in entries:
            name = entry.name
            if is_ignored(name):
                continue
            rel = f"{rel_folder}{name}"
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    try:
                        st = os.stat(path)
                    except FileNotFoundError:
                        problems.append(LocalProblem(rel, path, "dangling symlink (its target does not exist)"))
                        continue
                    except OSError as exc:
                        problems.append(LocalProblem(rel, path, f"unusable symlink ({exc.strerror})"))
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        linked.append(rel)
                        continue
                else:
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append((path, f"{rel}/"))
                        continue
            except OSError as exc:
                problems.append(LocalProblem(rel, path, f"cannot stat ({exc.strerror})"))
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append(LocalProblem(rel, path, _kind_of(st.st_mode)))
                continue
            if check_readable:
                try:
                    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
                    os.close(fd)
                except OSError as exc:
                    problems.append(LocalProblem(rel, path, f"cannot be opened ({exc.strerror})"))
                    continue
            files.append(LocalFile(relpath=rel, path=path, size=st.st_size, mtime_ns=st.st_mtime_ns))
    files.sort(key=lambda f: f.relpath)
    linked.sort()
    problems.sort(key=lambda p: p.relpath)
    return LocalScan(root=root, files=tuple(files), linked_dirs=tuple(linked), problems=tuple(problems))


def stale_partials(root: Path) -> list[Path]:
    """Leftover temporary download files under ``root`` (from a killed sync), to remove."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not is_ignored(d) or PARTIAL_MARKER in d]
        found.extend(Path(folder, name) for name in filenames if PARTIAL_MARKER in name)
    return found


# --------------------------------------------------------------------------- checksums


def transfer_part_size(size: int) -> int:
    """The part size the adapter's transfer manager uses for a file of ``size`` bytes."""
    part = MULTIPART_CHUNKSIZE
    while size > part * MAX_PARTS:
        part *= 2
    return part


def part_count(size: int, part_size: int) -> int:
    """How many parts a multipart upload of ``size`` bytes has with ``part_size``."""
    return max(1, math.ceil(size / part_size))


def candidate_part_sizes(size: int, parts: int) -> list[int]:
    """Part sizes that would split ``size`` bytes into exactly ``parts`` parts, ours first."""
    found: list[int] = []
    for candidate in (transfer_part_size(size), *OTHER_PART_SIZES):
        if candidate not in found and part_count(size, candidate) == parts:
            found.append(candidate)
    if parts == 1 and found:
        return found[:1]  # every size >= the file gives the same single part
    return found


def file_md5(path: Path) -> str:
    """Hex MD5 of a file's content: the ETag of a single-part upload."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class _PartHasher:
    """MD5s of consecutive fixed-size parts of a byte stream."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self.digest = hashlib.md5(usedforsecurity=False)
        self.filled = 0
        self.parts: list[bytes] = []

    def update(self, block: memoryview) -> None:
        while block:
            chunk = block[: self.part_size - self.filled]
            self.digest.update(chunk)
            self.filled += len(chunk)
            block = block[len(chunk) :]
            if self.filled == self.part_size:
                self.parts.append(self.digest.digest())
                self.digest = hashlib.md5(usedforsecurity=False)
                self.filled = 0

    def etag(self) -> str:
        parts = self.parts if (self.parts and not self.filled) else [*self.parts, self.digest.digest()]
        return f"{hashlib.md5(b''.join(parts), usedforsecurity=False).hexdigest()}-{len(parts)}"


def multipart_etags(path: Path, part_sizes: Sequence[int]) -> dict[int, str]:
    """The multipart ETag of a file for each part size, from a single read of the file."""
    hashers = [_PartHasher(size) for size in part_sizes]
    with open(path, "rb") as fh:
        while block := fh.read(_READ_BLOCK):
            view = memoryview(block)
            for hasher in hashers:
                hasher.update(view)
    return {hasher.part_size: hasher.etag() for hasher in hashers}


def normalize_etag(etag: str) -> str:
    """ETags arrive quoted and sometimes upper-cased; compare them bare and lower-case."""
    return etag.strip().strip('"').lower()


def _is_md5_hex(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def default_cache_dir() -> Path:
    """drfc's per-user cache folder (``$XDG_CACHE_HOME/drfc``, ``~/Library/Caches/drfc`` on macOS)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "drfc"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return Path(base, "drfc", "Cache") if base else Path.home() / "AppData" / "Local" / "drfc" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg, "drfc") if xdg else Path.home() / ".cache" / "drfc"


class ChecksumCache:
    """Checksums of files under one sync root, remembered between runs.

    Entries are valid only while the file keeps the size and ``mtime_ns`` it had
    when hashed. ``matches`` and ``remember`` may be called from several threads.
    A cache with ``file=None`` works in memory only.
    """

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self.hashed_bytes = 0
        if file is not None:
            self._load(file)

    @classmethod
    def for_root(cls, root: Path, cache_dir: Path | None = None) -> ChecksumCache:
        """The cache of one sync root, stored under ``cache_dir`` (default: the user cache)."""
        folder = (cache_dir if cache_dir is not None else default_cache_dir()) / "checksums"
        ident = hashlib.sha256(str(Path(root).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return cls(folder / f"{ident}.json")

    def _load(self, file: Path) -> None:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("version") == _CACHE_VERSION and isinstance(data.get("files"), dict):
            self._entries = {k: v for k, v in data["files"].items() if isinstance(v, dict)}

    def _entry(self, local: LocalFile) -> dict[str, Any]:
        entry = self._entries.get(local.relpath)
        if entry is None or entry.get("size") != local.size or entry.get("mtime_ns") != local.mtime_ns:
            entry = {"size": local.size, "mtime_ns": local.mtime_ns, "md5": None, "parts": {}, "seen": []}
            self._entries[local.relpath] = entry
        return entry

    def matches(self, local: LocalFile, etag: str) -> bool:
        """True when the file's content is the object with this ETag (same size assumed)."""
        etag = normalize_etag(etag)
        with self._lock:
            entry = self._entry(local)
            if etag in entry["seen"]:
                return True
            if "-" not in etag:
                if not _is_md5_hex(etag):
                    return False
                if entry["md5"] is None:
                    entry["md5"] = file_md5(local.path)
                    self.hashed_bytes += local.size
                return bool(entry["md5"] == etag)
            head, _, count = etag.rpartition("-")
            if not (_is_md5_hex(head) and count.isdigit() and int(count) > 0):
                return False
            sizes = candidate_part_sizes(local.size, int(count))
            missing = [size for size in sizes if str(size) not in entry["parts"]]
            if missing:
                for size, value in multipart_etags(local.path, missing).items():
                    entry["parts"][str(size)] = value
                self.hashed_bytes += local.size
            return any(entry["parts"][str(size)] == etag for size in sizes)

    def remember(self, local: LocalFile, etag: str) -> None:
        """Record that the file (as stat-ed in ``local``) has exactly the content of this ETag."""
        with self._lock:
            entry = self._entry(local)
            value = normalize_etag(etag)
            if value not in entry["seen"]:
                entry["seen"].append(value)

    def save(self, keep: Iterable[str] | None = None) -> None:
        """Write the cache (best effort), keeping only ``keep`` relpaths when given."""
        if self.file is None:
            return
        horizon = time.time_ns() - _RACY_NS
        with self._lock:
            wanted = set(keep) if keep is not None else None
            files = {
                rel: entry
                for rel, entry in self._entries.items()
                if entry.get("mtime_ns", horizon) < horizon and (wanted is None or rel in wanted)
            }
            payload = json.dumps({"version": _CACHE_VERSION, "files": files}, separators=(",", ":"))
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(payload, encoding="utf-8")
            os.replace(tmp, self.file)
        except OSError:
            return


SameContent = Callable[[LocalFile, RemoteObject], bool]


# --------------------------------------------------------------------------- planners


def _remote_under(prefix: str, remote: Iterable[RemoteObject]) -> dict[str, RemoteObject]:
    """Objects below the folder ``prefix`` by relative key, without folder markers or ignored names."""
    found: dict[str, RemoteObject] = {}
    for obj in remote:
        rel = relative_key(prefix, obj.key)
        if not rel or rel.endswith("/"):
            continue
        if any(is_ignored(segment) for segment in rel.split("/")):
            continue
        found[rel] = obj
    return found


def _under_any(rel: str, folders: Iterable[str]) -> bool:
    return any(rel == folder or rel.startswith(f"{folder}/") for folder in folders)


def plan_upload(
    local: LocalScan,
    remote: Iterable[RemoteObject],
    prefix: str,
    *,
    same_content: SameContent,
    delete: bool = False,
) -> SyncPlan:
    """What to upload (and, with ``delete``, remove remotely) so ``prefix`` mirrors the folder."""
    remote_by_rel = _remote_under(prefix, remote)
    actions: list[SyncAction] = []
    for f in local.files:
        key = join_key(prefix, f.relpath)
        obj = remote_by_rel.get(f.relpath)
        if obj is None:
            actions.append(SyncAction("upload", key, f.path, f.size, "new"))
        elif obj.size != f.size:
            actions.append(SyncAction("upload", key, f.path, f.size, "size differs"))
        elif same_content(f, obj):
            actions.append(SyncAction("skip", key, f.path, f.size, "unchanged"))
        else:
            actions.append(SyncAction("upload", key, f.path, f.size, "content differs"))
    for rel in local.linked_dirs:
        actions.append(SyncAction("skip", join_key(prefix, rel), local.root / rel, 0, "symlinked folder, not followed"))
    if delete:
        present = {f.relpath for f in local.files}
        for rel, obj in sorted(remote_by_rel.items()):
            if rel not in present and not _under_any(rel, local.linked_dirs):
                actions.append(SyncAction("delete", obj.key, None, obj.size, "not in the local folder"))
    return SyncPlan(tuple(actions))


def plan_download(
    remote: Iterable[RemoteObject],
    prefix: str,
    local: LocalScan,
    *,
    same_content: SameContent,
    delete: bool = False,
) -> SyncPlan:
    """What to download (and, with ``delete``, remove locally) so the folder mirrors ``prefix``."""
    remote_by_rel = _remote_under(prefix, remote)
    local_by_rel = {f.relpath: f for f in local.files}
    actions: list[SyncAction] = []
    for rel, obj in sorted(remote_by_rel.items()):
        segments = _safe_segments(rel)
        if segments is None:
            actions.append(SyncAction("skip", obj.key, None, obj.size, "key cannot be a local file name safely"))
            continue
        path = local.root.joinpath(*segments)
        if _under_any(rel, local.linked_dirs):
            actions.append(SyncAction("skip", obj.key, path, obj.size, "local folder is a symlink, not followed"))
            continue
        f = local_by_rel.get(rel)
        if f is None:
            actions.append(SyncAction("download", obj.key, path, obj.size, "new", etag=obj.etag))
        elif f.size != obj.size:
            actions.append(SyncAction("download", obj.key, path, obj.size, "size differs", etag=obj.etag))
        elif same_content(f, obj):
            actions.append(SyncAction("skip", obj.key, path, obj.size, "unchanged"))
        else:
            actions.append(SyncAction("download", obj.key, path, obj.size, "content differs", etag=obj.etag))
    if delete:
        for f in local.files:
            if f.relpath not in remote_by_rel:
                key = join_key(prefix, f.relpath)
                actions.append(SyncAction("delete", key, f.path, f.size, "not under the remote prefix"))
    return SyncPlan(tuple(actions))


def plan_copy(
    source: Iterable[RemoteObject],
    source_prefix: str,
    dest: Iterable[RemoteObject],
    dest_prefix: str,
    *,
    delete: bool = False,
) -> SyncPlan:
    """What to copy server-side so ``dest_prefix`` mirrors ``source_prefix``.

    Objects with equal size and ETag are skipped. An object the transfer manager
    copied in parts gets a new multipart ETag, so a large object copied once may
    be copied again if its source was uploaded with another part size.
    """
    src_by_rel = _remote_under(source_prefix, source)
    dst_by_rel = _remote_under(dest_prefix, dest)
    actions: list[SyncAction] = []
    for rel, obj in sorted(src_by_rel.items()):
        key = join_key(dest_prefix, rel)
        existing = dst_by_rel.get(rel)
        if existing is None:
            reason = "new"
        elif existing.size != obj.size:
            reason = "size differs"
        elif normalize_etag(existing.etag) == normalize_etag(obj.etag):
            actions.append(SyncAction("skip", key, None, obj.size, "unchanged", source_key=obj.key))
            continue
        else:
            reason = "content differs"
        actions.append(SyncAction("copy", key, None, obj.size, reason, source_key=obj.key, etag=obj.etag))
    if delete:
        for rel, obj in sorted(dst_by_rel.items()):
            if rel not in src_by_rel:
                actions.append(SyncAction("delete", obj.key, None, obj.size, "not under the source prefix"))
    return SyncPlan(tuple(actions))
