"""S3Store against a real S3 server (moto in server mode, over HTTP): transfers, syncs and failures."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import drfc.adapters.s3 as s3mod
import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from drfc.adapters.s3 import S3Store
from drfc.core.storage import MiB, S3Target, SyncAction
from drfc.core.sync import PARTIAL_MARKER, folder_prefix, multipart_etags, transfer_part_size
from drfc.errors import (
    ConflictError,
    NotFoundError,
    S3AccessDeniedError,
    S3BucketMissingError,
    S3CredentialsError,
    S3EndpointUnreachableError,
    S3Error,
    S3TransferError,
)
from tests.support.s3server import S3Server, free_port
from tests.support.second_s3 import auth_checking_server, second_server

pytestmark = pytest.mark.s3

BUCKET = "drfc-test"
HINT = "start the test store"
FILES = {
    "reward_function.py": b"def reward_function(params):\n    return 1.0\n",
    "model/model_metadata.json": b'{"action_space_type": "continuous"}',
    "model/deep/er/1_Step-10.ckpt.index": os.urandom(3000),
    "modèle/ä ö/Grüße ✓.json": '{"größe": 1}'.encode(),
    "with space/a file name.txt": b"spaces everywhere",
    "empty.txt": b"",
}


# ----------------------------------------------------------------------------- helpers and fixtures


@pytest.fixture(autouse=True)
def isolated_aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the host's ~/.aws or an instance metadata service."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-missing"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-missing"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)


def make_store(tmp_path: Path, bucket: str = BUCKET, **target: object) -> S3Store:
    spec = S3Target(bucket=bucket, label="test store", unreachable_hint=HINT, **target)  # type: ignore[arg-type]
    return S3Store(spec, cache_dir=tmp_path / "cache")


@pytest.fixture
def store(s3: S3Server, tmp_path: Path) -> S3Store:
    made = make_store(tmp_path)
    assert made.ensure_bucket() is True
    return made


def write(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under root (no symlinks followed) by POSIX relative path."""
    found: dict[str, bytes] = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def remote_tree(store: S3Store, prefix: str) -> dict[str, bytes]:
    folder = folder_prefix(prefix)
    return {obj.key[len(folder) :]: store.get_bytes(obj.key) for obj in store.list(prefix)}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Recorder:
    """A thread-safe SyncProgress that records what it was told."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: tuple[int, int] | None = None
        self.bytes = 0
        self.done: list[SyncAction] = []
        self.finished = 0

    def start(self, files: int, nbytes: int) -> None:
        self.started = (files, nbytes)

    def advance(self, nbytes: int) -> None:
        with self.lock:
            self.bytes += nbytes

    def file_done(self, action: SyncAction) -> None:
        with self.lock:
            self.done.append(action)

    def finish(self) -> None:
        self.finished += 1


# ----------------------------------------------------------------------------- single objects


def test_object_verbs_round_trip(store: S3Store, tmp_path: Path) -> None:
    assert store.prefix_is_empty("") and not store.exists("a/x.json")
    store.put_bytes("a/x.json", b'{"k": 1}', content_type="application/json")
    head = store.head("a/x.json")
    assert head is not None and head.size == len(b'{"k": 1}')
    assert head.etag == hashlib.md5(b'{"k": 1}', usedforsecurity=False).hexdigest()
    assert store.get_bytes("a/x.json") == b'{"k": 1}'
    assert store.client.head_object(Bucket=BUCKET, Key="a/x.json")["ContentType"] == "application/json"
    assert store.exists("a/x.json") and store.head("a/missing") is None
    assert not store.prefix_is_empty("a") and store.prefix_is_empty("a/x")  # a prefix is a folder

    src = write(tmp_path / "src", {"f.bin": os.urandom(1000)})
    store.upload_file(src / "f.bin", "b/f.bin")
    store.copy("b/f.bin", "c/f.bin")
    store.download_file("c/f.bin", tmp_path / "out" / "f.bin")
    assert (tmp_path / "out" / "f.bin").read_bytes() == (src / "f.bin").read_bytes()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["f.bin"]
    with pytest.raises(NotFoundError, match="a/missing"):
        store.get_bytes("a/missing")


def test_delete_keys_deletes_exactly_those_keys_in_batches(store: S3Store, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ["a/b", "a/bc", "a/b/c", "x", "y", "z"]
    for key in keys:
        store.put_bytes(key, key.encode())
    requests: list[int] = []
    store.client.meta.events.register(
        "before-parameter-build.s3.DeleteObjects", lambda params, **_: requests.append(len(params["Delete"]["Objects"]))
    )
    monkeypatch.setattr(s3mod, "DELETE_BATCH", 2)
    doomed = ["a/b", "x", "y"]
    assert store.delete_keys(doomed) == len(doomed)
    assert sorted(obj.key for obj in store.list("")) == sorted(set(keys) - set(doomed))
    assert requests == [2, 1]


def test_delete_prefix_refuses_the_whole_bucket(store: S3Store) -> None:
    store.put_bytes("keep", b"k")
    with pytest.raises(ConflictError):
        store.delete_prefix("")
    assert store.exists("keep")


def test_ensure_bucket_is_idempotent(store: S3Store) -> None:
    assert store.bucket_exists()
    assert store.ensure_bucket() is False


# ----------------------------------------------------------------------------- syncs


def test_sync_round_trip_with_nested_unicode_and_spaced_names(store: S3Store, tmp_path: Path) -> None:
    src = write(tmp_path / "src", FILES)
    up = store.sync_up(src, "models/m1")
    assert up.uploaded == len(FILES) and up.bytes == sum(map(len, FILES.values()))
    assert remote_tree(store, "models/m1") == FILES

    down = store.sync_down("models/m1", tmp_path / "down")
    assert down.downloaded == len(FILES)
    assert tree(tmp_path / "down") == FILES


def test_resync_without_changes_transfers_nothing(store: S3Store, tmp_path: Path) -> None:
    src = write(tmp_path / "src", FILES)
    store.sync_up(src, "p")
    again = store.sync_up(src, "p")
    assert (again.uploaded, again.skipped, again.bytes) == (0, len(FILES), 0)

    store.sync_down("p", tmp_path / "down")
    down_again = store.sync_down("p", tmp_path / "down")
    assert (down_again.downloaded, down_again.skipped) == (0, len(FILES))


def test_same_size_changed_content_is_uploaded(store: S3Store, tmp_path: Path) -> None:
    src = write(tmp_path / "src", FILES)
    store.sync_up(src, "p")
    changed = bytes(reversed(FILES["model/model_metadata.json"]))
    (src / "model/model_metadata.json").write_bytes(changed)
    result = store.sync_up(src, "p")
    assert result.uploaded == 1
    [upload] = [a for a in result.actions if a.kind == "upload"]
    assert (upload.key, upload.reason) == ("p/model/model_metadata.json", "content differs")
    assert store.get_bytes("p/model/model_metadata.json") == changed

    down = tmp_path / "down"
    store.sync_down("p", down)
    (down / "reward_function.py").write_bytes(b"x" * len(FILES["reward_function.py"]))
    fixed = store.sync_down("p", down)
    assert fixed.downloaded == 1
    assert (down / "reward_function.py").read_bytes() == FILES["reward_function.py"]


def test_delete_is_opt_in_both_ways(store: S3Store, tmp_path: Path) -> None:
    src = write(tmp_path / "src", FILES)
    store.put_bytes("p-sibling/keep", b"outside the prefix")
    store.sync_up(src, "p")
    (src / "reward_function.py").unlink()

    kept = store.sync_up(src, "p")
    assert kept.deleted == 0 and store.exists("p/reward_function.py")
    removed = store.sync_up(src, "p", delete=True)
    assert removed.deleted == 1
    assert remote_tree(store, "p") == {k: v for k, v in FILES.items() if k != "reward_function.py"}
    assert store.exists("p-sibling/keep")

    down = write(tmp_path / "down", {"local-only.txt": b"mine"})
    store.sync_down("p", down)
    assert (down / "local-only.txt").exists()
    store.sync_down("p", down, delete=True)
    assert tree(down) == remote_tree(store, "p")


def test_dry_run_lists_every_action_and_changes_nothing(store: S3Store, tmp_path: Path) -> None:
    src = write(tmp_path / "src", FILES)
    planned = store.sync_up(src, "p", dry_run=True)
    assert planned.dry_run and planned.uploaded == len(FILES)
    assert sorted(a.key for a in planned.actions if a.kind == "upload") == sorted(f"p/{k}" for k in FILES)
    assert store.prefix_is_empty("p")

    store.sync_up(src, "p")
    before = remote_tree(store, "p")
    (src / "reward_function.py").unlink()
    (src / "new.txt").write_bytes(b"new")
    planned = store.sync_up(src, "p", delete=True, dry_run=True)
    kinds = {(a.kind, a.key) for a in planned.actions if a.kind != "skip"}
    assert kinds == {("upload", "p/new.txt"), ("delete", "p/reward_function.py")}
    assert planned.skipped == len(FILES) - 1
    assert remote_tree(store, "p") == before

    target = tmp_path / "not-yet"
    planned_down = store.sync_down("p", target, dry_run=True)
    assert planned_down.downloaded == len(before) and not target.exists()


def test_empty_folder_and_empty_prefix(store: S3Store, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = store.sync_up(tmp_path / "empty", "p", delete=True)
    assert result.actions == () and not result.changed
    down = store.sync_down("nothing-here", tmp_path / "down")
    assert down.actions == () and (tmp_path / "down").is_dir() and tree(tmp_path / "down") == {}


def test_junk_files_are_not_uploaded(store: S3Store, tmp_path: Path) -> None:
    src = write(tmp_path / "src", FILES)
    write(src, {".DS_Store": b"j", "__pycache__/r.cpython-311.pyc": b"j", "reward_function.py.swp": b"j"})
    store.sync_up(src, "p")
    assert remote_tree(store, "p") == FILES


def test_symlinked_files_are_followed_and_symlinked_folders_are_not(store: S3Store, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"shared_reward.py": b"shared", "sub/x.txt": b"x"})
    src = write(tmp_path / "src", {"a.txt": b"alpha"})
    (src / "reward_function.py").symlink_to(outside / "shared_reward.py")
    (src / "linked").symlink_to(outside / "sub", target_is_directory=True)
    result = store.sync_up(src, "p")
    assert remote_tree(store, "p") == {"a.txt": b"alpha", "reward_function.py": b"shared"}
    [skip] = [a for a in result.actions if a.key == "p/linked"]
    assert skip.kind == "skip" and "symlink" in skip.reason


def test_unreadable_files_fail_before_anything_is_uploaded(store: S3Store, tmp_path: Path) -> None:
    src = write(tmp_path / "src", FILES)
    (src / "model" / "dangling.json").symlink_to(tmp_path / "does-not-exist")
    os.mkfifo(src / "pipe")
    with pytest.raises(S3TransferError) as caught:
        store.sync_up(src, "p")
    message = str(caught.value)
    assert str(src / "model" / "dangling.json") in message and str(src / "pipe") in message
    assert "nothing was transferred" in message
    assert store.list("") == []


def test_multipart_file_round_trips_and_its_etag_is_computed_locally(store: S3Store, tmp_path: Path) -> None:
    size = 64 * MiB + 12345
    src = write(tmp_path / "src", {"big.bin": os.urandom(size), "small.txt": b"small"})
    recorder = Recorder()
    result = store.sync_up(src, "p", progress=recorder)
    assert result.uploaded == 2
    assert recorder.started == (2, size + 5) and recorder.bytes == size + 5
    assert len(recorder.done) == 2 and recorder.finished == 1

    head = store.head("p/big.bin")
    assert head is not None and head.size == size
    parts = -(-size // transfer_part_size(size))
    assert head.etag.endswith(f"-{parts}")  # went multipart, with our part size
    part_size = transfer_part_size(size)
    assert multipart_etags(src / "big.bin", [part_size])[part_size] == head.etag

    assert store.sync_up(src, "p").uploaded == 0
    store.sync_down("p", tmp_path / "down")
    assert sha((tmp_path / "down" / "big.bin").read_bytes()) == sha((src / "big.bin").read_bytes())
    assert store.sync_down("p", tmp_path / "down").downloaded == 0


def test_copy_prefix_is_incremental_and_works_across_buckets(store: S3Store, s3: S3Server, tmp_path: Path) -> None:
    src = write(tmp_path / "src", FILES)
    store.sync_up(src, "model-a")
    store.put_bytes("model-b/stale.txt", b"stale")
    recorder = Recorder()
    first = store.copy_prefix("model-a", "model-b", delete=True, progress=recorder)
    assert (first.copied, first.deleted) == (len(FILES), 1)
    assert recorder.bytes == sum(map(len, FILES.values())) and len(recorder.done) == len(FILES) + 1
    assert remote_tree(store, "model-b") == FILES
    assert store.copy_prefix("model-a", "model-b").copied == 0
    with pytest.raises(ConflictError):
        store.copy_prefix("model-a", "model-a/clone")

    other = make_store(tmp_path, bucket="drfc-other")
    other.ensure_bucket()
    across = other.copy_prefix("model-a", "imported", src_bucket=BUCKET)
    assert across.copied == len(FILES)
    assert remote_tree(other, "imported") == FILES


# ----------------------------------------------------------------------------- failures


def test_missing_bucket_is_named_with_its_endpoint(s3: S3Server, tmp_path: Path) -> None:
    store = make_store(tmp_path, bucket="no-such-bucket")
    assert store.bucket_exists() is False
    src = write(tmp_path / "src", FILES)
    for verb in (
        lambda: store.sync_up(src, "p"),
        lambda: store.sync_down("p", tmp_path / "down"),
        lambda: store.head("k"),
        lambda: store.get_bytes("k"),
        lambda: store.put_bytes("k", b"x"),
    ):
        with pytest.raises(S3BucketMissingError) as caught:
            verb()
        assert "no-such-bucket" in str(caught.value) and s3.endpoint_url in str(caught.value)
        assert "drfc storage start" in (caught.value.hint or "")


@pytest.mark.parametrize(
    "endpoint",
    [f"http://127.0.0.1:{free_port()}", "http://drfc-store.invalid:9000"],
    ids=["closed-port", "unknown-host"],
)
def test_unreachable_endpoint_fails_fast_and_says_how_to_fix_it(s3: S3Server, tmp_path: Path, endpoint: str) -> None:
    store = make_store(tmp_path, endpoint_url=endpoint)
    src = write(tmp_path / "src", FILES)
    for verb in (partial(store.sync_up, src, "p"), store.bucket_exists, store.ensure_bucket):
        started = time.monotonic()
        with pytest.raises(S3EndpointUnreachableError) as caught:
            verb()
        assert time.monotonic() - started < 6
        assert endpoint in str(caught.value) and "test store" in str(caught.value)
        assert caught.value.hint == HINT


@pytest.fixture
def auth_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3Server, str]]:
    """A server that checks credentials; yields it and a real access key id (whose secret we ignore)."""
    with auth_checking_server(monkeypatch) as found:
        yield found


def test_rejected_credentials_name_the_source_and_never_the_secret(
    auth_server: tuple[S3Server, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, real_key_id = auth_server
    secret = "sEcReT-value-that-must-not-leak"
    src = write(tmp_path / "src", FILES)
    for key_id, code in (("AKIANOTAREALKEY00000", "InvalidAccessKeyId"), (real_key_id, "SignatureDoesNotMatch")):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        store = make_store(tmp_path, endpoint_url=server.endpoint_url)
        for verb in (partial(store.sync_up, src, "p"), store.bucket_exists, partial(store.head, "k")):
            with pytest.raises(S3CredentialsError) as caught:
                verb()
            text = f"{caught.value} {caught.value.hint}"
            assert code in text and "default credential chain" in text and server.endpoint_url in text
            assert secret not in text


def test_missing_profile_is_reported_on_first_use_not_on_construction(s3: S3Server, tmp_path: Path) -> None:
    store = make_store(tmp_path, profile="minio")  # building it touches nothing
    with pytest.raises(S3CredentialsError) as caught:
        store.list("p")
    assert "'minio'" in str(caught.value)
    assert "aws configure --profile minio" in (caught.value.hint or "")


def test_no_credentials_at_all(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = make_store(tmp_path)
    with pytest.raises(S3CredentialsError) as caught:
        store.bucket_exists()
    assert "default credential chain" in str(caught.value)
    assert "aws configure" in (caught.value.hint or "")


@pytest.fixture
def own_server(s3: S3Server) -> Iterator[S3Server]:
    """A server this test may stop and restart (state is lost on stop)."""
    with second_server() as server:
        yield server


def test_server_stopped_mid_upload_fails_clearly_and_a_rerun_completes(own_server: S3Server, tmp_path: Path) -> None:
    store = make_store(tmp_path, endpoint_url=own_server.endpoint_url)
    store.ensure_bucket()
    files = {f"part-{i:02d}.bin": os.urandom(50_000) for i in range(40)}
    src = write(tmp_path / "src", files)

    class StopAfterFirstFile(Recorder):
        def file_done(self, action: SyncAction) -> None:
            super().file_done(action)
            with self.lock:
                if len(self.done) == 1:
                    own_server.stop()

    progress = StopAfterFirstFile()
    started = time.monotonic()
    with pytest.raises((S3EndpointUnreachableError, S3TransferError)) as caught:
        store.sync_up(src, "p", progress=progress)
    assert time.monotonic() - started < 60
    message = str(caught.value)
    assert own_server.endpoint_url in message and "s3://drfc-test/p/part-" in message
    assert "again" in message
    assert progress.finished == 1 and len(progress.done) < len(files)

    own_server.start()  # moto forgets everything on stop
    store.ensure_bucket()
    assert store.sync_up(src, "p").uploaded == len(files)
    assert remote_tree(store, "p") == files


def test_server_stopped_mid_download_leaves_no_partial_file_and_a_rerun_completes(
    own_server: S3Server, tmp_path: Path
) -> None:
    store = make_store(tmp_path, endpoint_url=own_server.endpoint_url)
    files = {"big.bin": os.urandom(24 * MiB + 1), **{f"small-{i}.txt": os.urandom(10_000) for i in range(6)}}
    src = write(tmp_path / "src", files)

    def seed() -> None:
        store.ensure_bucket()
        store.sync_up(src, "p")

    seed()

    class StopAfterSomeBytes(Recorder):
        def advance(self, nbytes: int) -> None:
            with self.lock:
                self.bytes += nbytes
                if self.bytes > 4 * MiB and own_server.running:
                    own_server.stop()

    dest = tmp_path / "dest"
    with pytest.raises((S3EndpointUnreachableError, S3TransferError)) as caught:
        store.sync_down("p", dest, progress=StopAfterSomeBytes())
    assert "s3://drfc-test/p/" in str(caught.value)
    got = tree(dest)
    assert all(data == files[rel] for rel, data in got.items()), "a file holds partial content"
    assert "big.bin" not in got
    (dest / f".big.bin{PARTIAL_MARKER}deadbeef").write_bytes(b"left by a killed run")

    own_server.start()
    seed()
    store.sync_down("p", dest)
    assert tree(dest) == files


def test_unknown_failures_name_the_key_and_keep_the_error_family(s3: S3Server, tmp_path: Path) -> None:
    store = make_store(tmp_path)

    def client_error(code: str, status: int) -> ClientError:
        return ClientError(
            {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
        )

    try:
        try:
            raise client_error("NoSuchBucket", 404)
        except ClientError as inner:  # boto3 re-raises like this, keeping only the text
            raise S3UploadFailedError(f"Failed to upload: {inner}")  # noqa: B904
    except S3UploadFailedError as wrapped:
        assert isinstance(store.translate(wrapped, "upload to", key="k"), S3BucketMissingError)

    cases: list[tuple[BaseException, type[Exception]]] = [
        (EndpointConnectionError(endpoint_url="http://x"), S3EndpointUnreachableError),
        (NoCredentialsError(), S3CredentialsError),
        (client_error("AccessDenied", 403), S3AccessDeniedError),
        (client_error("SignatureDoesNotMatch", 403), S3CredentialsError),
        (client_error("InternalError", 500), S3TransferError),
        (client_error("NoSuchKey", 404), NotFoundError),
    ]
    for exc, expected in cases:
        error = store.translate(exc, "upload to", key="models/x.bin")
        assert type(error) is expected
        if expected in (S3TransferError, S3AccessDeniedError):
            assert "s3://drfc-test/models/x.bin" in str(error)
    assert type(store.translate(client_error("InternalError", 500), "list")) is S3Error
