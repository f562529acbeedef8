"""The pure sync planner: local scan rules, checksums, and what each direction decides to do."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from drfc.core.storage import (
    MAX_PARTS,
    MULTIPART_CHUNKSIZE,
    LocalFile,
    MiB,
    RemoteObject,
    SyncAction,
    SyncPlan,
    SyncResult,
)
from drfc.core.sync import (
    IGNORED_NAMES,
    ChecksumCache,
    LocalScan,
    SameContent,
    candidate_part_sizes,
    file_md5,
    folder_prefix,
    is_ignored,
    join_key,
    multipart_etags,
    part_count,
    plan_copy,
    plan_download,
    plan_upload,
    relative_key,
    scan_local,
    stale_partials,
    transfer_part_size,
)
from drfc.errors import NotFoundError, S3TransferError

# ----------------------------------------------------------------------------- helpers


def write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def reference_multipart_etag(data: bytes, part_size: int) -> str:
    """Straightforward slicing, to cross-check the streaming implementation."""
    parts = [data[i : i + part_size] for i in range(0, len(data), part_size)] or [b""]
    digests = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"


def remote_of(prefix: str, files: dict[str, bytes]) -> list[RemoteObject]:
    return [RemoteObject(join_key(prefix, rel), len(data), md5(data)) for rel, data in files.items()]


def by_key(plan: SyncPlan) -> dict[str, SyncAction]:
    return {action.key: action for action in plan.actions}


def cache_match(cache: ChecksumCache) -> SameContent:
    return lambda f, o: cache.matches(f, o.etag)


# ----------------------------------------------------------------------------- keys and ignore rules


@pytest.mark.parametrize(
    ("prefix", "folder"),
    [("", ""), ("/", ""), ("a", "a/"), ("a/", "a/"), ("/a/b/", "a/b/"), ("a/b", "a/b/")],
)
def test_a_prefix_always_means_a_folder(prefix: str, folder: str) -> None:
    assert folder_prefix(prefix) == folder
    assert join_key(prefix, "x/y.txt") == f"{folder}x/y.txt"
    assert relative_key(prefix, f"{folder}x/y.txt") == "x/y.txt"


def test_a_sibling_with_the_same_leading_text_is_not_inside_the_prefix() -> None:
    assert relative_key("model", "model2/a") is None
    assert relative_key("model", "model/a") == "a"


JUNK = [".DS_Store", "._reward.py", "x.pyc", "x.pyo", ".r.py.swp", "r.py~", ".#r.py", "#r.py#", ".x.drfc-part-0a"]


@pytest.mark.parametrize("name", [*sorted(IGNORED_NAMES), *JUNK])
def test_junk_names_are_ignored(name: str) -> None:
    assert is_ignored(name)


@pytest.mark.parametrize(
    "name", ["reward_function.py", "model_metadata.json", ".coach_checkpoint", ".ready", "done", "a b.txt"]
)
def test_real_files_are_not_ignored(name: str) -> None:
    assert not is_ignored(name)


# ----------------------------------------------------------------------------- local scan


def test_scan_finds_nested_unicode_and_spaced_names_and_skips_junk(tmp_path: Path) -> None:
    files = {
        "reward_function.py": b"def reward_function(params):\n    return 1.0\n",
        "model/deep/ä ö/Grüße ✓.json": b"{}",
        "with space/file name.txt": b"x",
        ".coach_checkpoint": b"1_Step-2.ckpt",
    }
    write(tmp_path, files)
    write(tmp_path, {".DS_Store": b"j", "__pycache__/r.cpython-311.pyc": b"j", "model/.x.swp": b"j"})
    scan = scan_local(tmp_path)
    assert {f.relpath for f in scan.files} == set(files)
    assert {f.relpath: f.size for f in scan.files} == {rel: len(data) for rel, data in files.items()}
    assert all(f.path == tmp_path / f.relpath for f in scan.files)
    assert not scan.problems and not scan.linked_dirs


def test_scan_follows_file_symlinks_but_not_folder_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, {"target.py": b"linked content", "sub/inner.txt": b"inner"})
    root = tmp_path / "root"
    write(root, {"plain.txt": b"plain"})
    (root / "link.py").symlink_to(outside / "target.py")
    (root / "linked_dir").symlink_to(outside / "sub", target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    scan = scan_local(root)
    sizes = {f.relpath: f.size for f in scan.files}
    assert sizes == {"plain.txt": len(b"plain"), "link.py": len(b"linked content")}
    assert scan.linked_dirs == ("linked_dir", "loop")
    assert not scan.problems


def test_scan_reports_every_unreadable_entry_and_the_error_names_them(tmp_path: Path) -> None:
    write(tmp_path, {"ok.txt": b"ok"})
    (tmp_path / "dangling.py").symlink_to(tmp_path / "missing-target")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "self-loop").symlink_to(tmp_path / "self-loop")
    scan = scan_local(tmp_path)
    assert [f.relpath for f in scan.files] == ["ok.txt"]
    reasons = {p.relpath: p.reason for p in scan.problems}
    assert set(reasons) == {"dangling.py", "pipe", "self-loop"}
    assert "dangling" in reasons["dangling.py"]
    assert "FIFO" in reasons["pipe"]
    with pytest.raises(S3TransferError) as caught:
        scan.raise_if_unreadable("upload")
    text = str(caught.value)
    for name in ("dangling.py", "pipe", "self-loop"):
        assert str(tmp_path / name) in text
    assert "nothing was transferred" in text


def test_scan_of_a_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        scan_local(tmp_path / "nope")


def test_stale_partial_downloads_are_found(tmp_path: Path) -> None:
    write(tmp_path, {"a/.x.bin.drfc-part-1234abcd": b"partial", "a/x.bin": b"whole"})
    assert stale_partials(tmp_path) == [tmp_path / "a/.x.bin.drfc-part-1234abcd"]
    assert [f.relpath for f in scan_local(tmp_path).files] == ["a/x.bin"]


# ----------------------------------------------------------------------------- checksums


@pytest.mark.parametrize("size", [0, 1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 17 * MiB + 3])
def test_multipart_etags_match_a_plain_slicing_computation(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    sizes = [5 * MiB, 8 * MiB, 16 * MiB]
    etags = multipart_etags(path, sizes)
    assert etags == {p: reference_multipart_etag(data, p) for p in sizes}
    assert file_md5(path) == md5(data)


def test_part_size_grows_like_the_transfer_manager_for_huge_files() -> None:
    assert transfer_part_size(1) == MULTIPART_CHUNKSIZE
    assert transfer_part_size(MULTIPART_CHUNKSIZE * MAX_PARTS) == MULTIPART_CHUNKSIZE
    huge = MULTIPART_CHUNKSIZE * MAX_PARTS + 1
    part = transfer_part_size(huge)
    assert part > MULTIPART_CHUNKSIZE and math.ceil(huge / part) <= MAX_PARTS
    assert math.ceil(huge / (part // 2)) > MAX_PARTS


def test_candidate_part_sizes_only_produce_the_remote_part_count() -> None:
    size = 40 * MiB
    for parts in (1, 2, 3, 5, 8):
        for candidate in candidate_part_sizes(size, parts):
            assert part_count(size, candidate) == parts
    assert candidate_part_sizes(size, part_count(size, MULTIPART_CHUNKSIZE))[0] == MULTIPART_CHUNKSIZE
    assert candidate_part_sizes(size, 9999) == []


def local_file(root: Path, rel: str) -> LocalFile:
    path = root / rel
    st = path.stat()
    return LocalFile(rel, path, st.st_size, st.st_mtime_ns)


def test_cache_matches_md5_and_multipart_etags_and_rejects_others(tmp_path: Path) -> None:
    data = os.urandom(9 * MiB + 7)
    write(tmp_path, {"f.bin": data})
    f = local_file(tmp_path, "f.bin")
    cache = ChecksumCache(None)
    assert cache.matches(f, f'"{md5(data)}"')
    assert cache.matches(f, reference_multipart_etag(data, MULTIPART_CHUNKSIZE).upper())
    assert cache.matches(f, reference_multipart_etag(data, 5 * MiB))
    other = bytearray(data)
    other[-1] ^= 0xFF
    assert not cache.matches(f, md5(bytes(other)))
    assert not cache.matches(f, reference_multipart_etag(bytes(other), MULTIPART_CHUNKSIZE))
    assert not cache.matches(f, f"{md5(data)}-7")  # no candidate part size gives 7 parts
    assert not cache.matches(f, "not-an-md5")


def test_cache_persists_checksums_of_settled_files_and_rehashes_changed_ones(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, {"a.txt": b"alpha", "b.txt": b"bravo"})
    old = time.time_ns() - 10_000_000_000
    for name in ("a.txt", "b.txt"):
        os.utime(root / name, ns=(old, old))
    first = ChecksumCache.for_root(root, tmp_path / "cache")
    for name, data in (("a.txt", b"alpha"), ("b.txt", b"bravo")):
        assert first.matches(local_file(root, name), md5(data))
    assert first.hashed_bytes == 10
    first.save()

    second = ChecksumCache.for_root(root, tmp_path / "cache")
    assert second.matches(local_file(root, "a.txt"), md5(b"alpha"))
    assert second.hashed_bytes == 0  # answered from the cache file

    (root / "b.txt").write_bytes(b"BRAVO")  # same size, new mtime
    assert not second.matches(local_file(root, "b.txt"), md5(b"bravo"))
    assert second.matches(local_file(root, "b.txt"), md5(b"BRAVO"))
    assert second.hashed_bytes == 5


def test_cache_does_not_persist_files_modified_in_the_last_seconds(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, {"fresh.txt": b"fresh"})
    cache = ChecksumCache.for_root(root, tmp_path / "cache")
    assert cache.matches(local_file(root, "fresh.txt"), md5(b"fresh"))
    cache.save()
    assert cache.file is not None
    assert json.loads(cache.file.read_text())["files"] == {}


def test_a_corrupt_cache_file_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, {"a.txt": b"alpha"})
    cache = ChecksumCache.for_root(root, tmp_path / "cache")
    assert cache.file is not None
    cache.file.parent.mkdir(parents=True)
    cache.file.write_text("{not json")
    again = ChecksumCache.for_root(root, tmp_path / "cache")
    assert again.matches(local_file(root, "a.txt"), md5(b"alpha"))


def test_remembered_etags_match_without_hashing(tmp_path: Path) -> None:
    write(tmp_path, {"a.bin": b"x" * 100})
    f = local_file(tmp_path, "a.bin")
    cache = ChecksumCache(None)
    cache.remember(f, "0123456789abcdef0123456789abcdef-3")
    assert cache.matches(f, '"0123456789ABCDEF0123456789ABCDEF-3"')
    assert cache.hashed_bytes == 0


# ----------------------------------------------------------------------------- upload plans

BASE = {"a.txt": b"alpha", "dir/b.txt": b"bravo", "dir/sub/c.bin": b"\x00\x01\x02"}


def test_upload_plan_skips_unchanged_and_uploads_new_and_changed(tmp_path: Path) -> None:
    local = {**BASE, "dir/b.txt": b"BRAVO", "a.txt": b"alpha-longer", "new.txt": b"new"}
    write(tmp_path, local)
    remote = remote_of("p", BASE)
    plan = plan_upload(scan_local(tmp_path), remote, "p", same_content=cache_match(ChecksumCache(None)))
    actions = by_key(plan)
    assert (actions["p/dir/sub/c.bin"].kind, actions["p/dir/sub/c.bin"].reason) == ("skip", "unchanged")
    assert (actions["p/dir/b.txt"].kind, actions["p/dir/b.txt"].reason) == ("upload", "content differs")
    assert (actions["p/a.txt"].kind, actions["p/a.txt"].reason) == ("upload", "size differs")
    assert (actions["p/new.txt"].kind, actions["p/new.txt"].reason) == ("upload", "new")
    assert plan.transfer_bytes == sum(len(local[r]) for r in ("dir/b.txt", "a.txt", "new.txt"))
    assert plan.counts() == {"upload": 3, "download": 0, "copy": 0, "delete": 0, "skip": 1}


def test_upload_deletes_only_when_asked_and_only_under_the_prefix(tmp_path: Path) -> None:
    write(tmp_path, BASE)
    remote = [
        *remote_of("p", {**BASE, "gone.txt": b"old"}),
        *remote_of("p2", {"gone.txt": b"sibling"}),
        *remote_of("p", {"__pycache__/x.pyc": b"junk"}),
    ]
    same = cache_match(ChecksumCache(None))
    assert not plan_upload(scan_local(tmp_path), remote, "p", same_content=same).deletes
    plan = plan_upload(scan_local(tmp_path), remote, "p", same_content=same, delete=True)
    assert [a.key for a in plan.deletes] == ["p/gone.txt"]
    assert all(a.kind == "skip" for a in plan.actions if a.kind != "delete")


def test_upload_leaves_remote_keys_under_a_symlinked_folder_alone(tmp_path: Path) -> None:
    other = tmp_path / "other"
    write(other, {"x.txt": b"x"})
    root = tmp_path / "root"
    write(root, {"a.txt": b"alpha"})
    (root / "ln").symlink_to(other, target_is_directory=True)
    remote = remote_of("p", {"a.txt": b"alpha", "ln/x.txt": b"x"})
    plan = plan_upload(scan_local(root), remote, "p", same_content=cache_match(ChecksumCache(None)), delete=True)
    assert not plan.deletes
    skip = by_key(plan)["p/ln"]
    assert skip.kind == "skip" and "symlink" in skip.reason


def test_an_unreadable_file_fails_before_any_plan(tmp_path: Path) -> None:
    write(tmp_path, BASE)
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    scan = scan_local(tmp_path)
    with pytest.raises(S3TransferError, match="broken"):
        scan.raise_if_unreadable("upload")


# ----------------------------------------------------------------------------- download plans


def test_download_plan_mirrors_upload_rules(tmp_path: Path) -> None:
    write(tmp_path, {**BASE, "dir/b.txt": b"BRAVO", "local-only.txt": b"mine"})
    remote = remote_of("p", {**BASE, "fresh/new.txt": b"new"})
    same = cache_match(ChecksumCache(None))
    plan = plan_download(remote, "p", scan_local(tmp_path), same_content=same)
    actions = by_key(plan)
    assert actions["p/a.txt"].kind == "skip"
    assert (actions["p/dir/b.txt"].kind, actions["p/dir/b.txt"].reason) == ("download", "content differs")
    assert actions["p/fresh/new.txt"].path == tmp_path / "fresh" / "new.txt"
    assert actions["p/fresh/new.txt"].etag == md5(b"new")
    assert not plan.deletes
    deleting = plan_download(remote, "p", scan_local(tmp_path), same_content=same, delete=True)
    assert [a.path for a in deleting.deletes] == [tmp_path / "local-only.txt"]


def test_download_never_writes_outside_the_folder_or_through_folder_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "ln").symlink_to(tmp_path, target_is_directory=True)
    remote = [
        RemoteObject("p/../escape.txt", 1, md5(b"x")),
        RemoteObject("p/a//b.txt", 1, md5(b"x")),
        RemoteObject("p/ln/x.txt", 1, md5(b"x")),
        RemoteObject("p/folder/", 0, md5(b"")),  # a folder marker, not a file
        RemoteObject("p/ok.txt", 1, md5(b"x")),
    ]
    plan = plan_download(remote, "p", scan_local(root), same_content=cache_match(ChecksumCache(None)))
    assert [a.key for a in plan.of_kind("download")] == ["p/ok.txt"]
    assert {a.key for a in plan.skips} == {"p/../escape.txt", "p/a//b.txt", "p/ln/x.txt"}


# ----------------------------------------------------------------------------- copy plans


def test_copy_plan_compares_size_and_etag() -> None:
    source = remote_of("src", BASE)
    dest = [
        *remote_of("dst", {"a.txt": BASE["a.txt"], "dir/b.txt": b"BRAVO"}),
        *remote_of("dst", {"extra.txt": b"extra"}),
    ]
    plan = plan_copy(source, "src", dest, "dst")
    actions = by_key(plan)
    assert actions["dst/a.txt"].kind == "skip"
    assert (actions["dst/dir/b.txt"].kind, actions["dst/dir/b.txt"].source_key) == ("copy", "src/dir/b.txt")
    assert actions["dst/dir/sub/c.bin"].reason == "new"
    assert not plan.deletes
    assert [a.key for a in plan_copy(source, "src", dest, "dst", delete=True).deletes] == ["dst/extra.txt"]


# ----------------------------------------------------------------------------- results and layering


def test_result_totals_come_from_the_plan(tmp_path: Path) -> None:
    write(tmp_path, BASE)
    plan = plan_upload(scan_local(tmp_path), [], "p", same_content=lambda f, o: False)
    result = SyncResult.from_plan(plan, seconds=0.5, dry_run=True)
    data = result.to_dict(with_actions=True)
    for key in ("uploaded", "downloaded", "skipped", "deleted", "bytes", "seconds", "dry_run"):
        assert key in data
    assert data["uploaded"] == len(BASE)
    assert data["bytes"] == sum(len(v) for v in BASE.values())
    assert data["dry_run"] is True
    assert len(data["actions"]) == len(BASE)
    json.dumps(data)


def test_empty_scan_plans_nothing(tmp_path: Path) -> None:
    plan = plan_upload(LocalScan(tmp_path, ()), [], "p", same_content=lambda f, o: True, delete=True)
    assert plan.actions == ()


def test_core_storage_modules_do_not_import_boto3() -> None:
    code = (
        "import sys, drfc.core.storage, drfc.core.sync; "
        "bad = [m for m in ('boto3', 'botocore', 's3transfer', 'docker', 'click') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
