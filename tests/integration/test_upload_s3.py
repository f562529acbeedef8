"""The bundle executor against the real S3 server (moto over HTTP): interruption, verification, streaming.

* An upload that fails part-way (the connection breaks on one object) leaves no partial object, says
  how far it got, and the same call again copies only what is missing, then verifies everything.
* A process killed with SIGKILL in the middle of `drfc upload` is finished by running it again.
* Verification reads content back only where ETags cannot prove equality (other part sizes), and
  catches an object that differs from its source.
* Large objects are streamed (multipart) between stores with different keys, byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from drfc.adapters.s3 import S3Store
from drfc.core.storage import S3Target
from drfc.core.upload import ModelSource, plan_model, upload_bundle, verify_transfer
from drfc.errors import S3TransferError
from tests.support.model_prefix import trained_model
from tests.support.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

pytestmark = pytest.mark.s3

LOCAL, UPLOAD = "local-bucket", "upload-bucket"
P, T = "rl-model", "rl-model-export"
MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )


def contents(c: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for item in page.get("Contents", ()):
            found[item["Key"]] = c.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


class BreakingStore(S3Store):
    """A real store whose ``copy_from`` fails like a broken connection on the ``fail_on``-th call."""

    def __init__(self, target: S3Target, fail_on: int) -> None:
        super().__init__(target, persist_checksums=False)
        self.calls = 0
        self.fail_on = fail_on

    def copy_from(self, source: S3Store, src_key: str, dst_key: str, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise S3TransferError(f"the connection broke while trying to copy to s3://{UPLOAD}/{dst_key}")
        super().copy_from(source, src_key, dst_key, **kwargs)


@pytest.fixture
def stores(s3: S3Server) -> tuple[S3Store, Callable[..., S3Store], Any, dict[str, bytes]]:
    c = client(s3.endpoint_url)
    c.create_bucket(Bucket=LOCAL)
    c.create_bucket(Bucket=UPLOAD)
    model = trained_model(P, checkpoints=(1, 2, 3), data_size=64 * 1024)
    for key, data in model.items():
        c.put_object(Bucket=LOCAL, Key=key, Body=data)
    source = S3Store(S3Target(LOCAL, s3.endpoint_url, REGION), persist_checksums=False)

    def target(cls: type[S3Store] = S3Store, **kwargs: Any) -> S3Store:
        return cls(S3Target(UPLOAD, s3.endpoint_url, REGION), **kwargs)

    return source, target, c, model


def plan(source: S3Store) -> Any:
    return plan_model(source, ModelSource(P), choice="last", target_bucket=UPLOAD, target_prefix=T)


def test_an_interrupted_upload_leaves_no_partial_object_and_a_rerun_finishes_it(stores: Any) -> None:
    source, target, c, _model = stores
    bundle, listing = plan(source)
    breaking = target(BreakingStore, fail_on=3)

    with pytest.raises(S3TransferError) as caught:
        upload_bundle(bundle.items, listing, source=source, target=breaking, target_prefix=T)
    assert "running the same command again finishes the rest" in caught.value.message
    landed = contents(c, UPLOAD, T)
    assert 0 < len(landed) < len(bundle.items)
    by_key = {f"{T}/{i.target}": i for i in bundle.items}
    for key, data in landed.items():  # whatever is there is complete and right
        item = by_key[key]
        expected = item.content if item.content is not None else source.get_bytes(item.source_key or "")
        assert data == expected

    again = upload_bundle(bundle.items, listing, source=source, target=target(), target_prefix=T)
    assert again.skipped == len(landed) and again.copied + again.written == len(bundle.items) - len(landed)
    assert again.verified == len(bundle.items)
    assert len(contents(c, UPLOAD, T)) == len(bundle.items)


def test_verification_reads_back_only_unprovable_objects_and_catches_a_difference(stores: Any) -> None:
    source, target, c, model = stores
    bundle, listing = plan(source)
    dest = target()
    upload_bundle(bundle.items, listing, source=source, target=dest, target_prefix=T)
    sources = {o.key: o for o in listing}

    # Same bytes, other part size: the ETag differs, the content does not; verification passes by reading.
    name = next(i for i in bundle.items if i.target.endswith(".data-00000-of-00001"))
    key = f"{T}/{name.target}"
    data = model[name.source_key or ""]
    small_parts = TransferConfig(multipart_threshold=16 * 1024, multipart_chunksize=16 * 1024)
    assert len(data) > 16 * 1024
    c.upload_fileobj(io.BytesIO(data), UPLOAD, key, Config=small_parts)
    assert c.head_object(Bucket=UPLOAD, Key=key)["ETag"].strip('"') != sources[name.source_key or ""].etag
    read: list[str] = []
    original = dest.digest

    def counting(k: str) -> str:
        read.append(k)
        return original(k)

    dest.digest = counting  # type: ignore[method-assign]
    assert verify_transfer(bundle.items, sources, source=source, target=dest, target_prefix=T) == len(bundle.items)
    assert read == [key]

    # Same size, other bytes: caught.
    corrupted = bytes([data[0] ^ 0xFF]) + data[1:]
    c.put_object(Bucket=UPLOAD, Key=key, Body=corrupted)
    with pytest.raises(S3TransferError, match=r"verification failed.*differs from its source"):
        verify_transfer(bundle.items, sources, source=source, target=dest, target_prefix=T)
    c.delete_object(Bucket=UPLOAD, Key=f"{T}/reward_function.py")
    with pytest.raises(S3TransferError, match=r"reward_function\.py is missing"):
        verify_transfer(bundle.items, sources, source=source, target=dest, target_prefix=T)

    # Running the upload again repairs both.
    fixed = upload_bundle(bundle.items, listing, source=source, target=dest, target_prefix=T)
    assert fixed.copied == 2 and fixed.verified == len(bundle.items)
    assert contents(c, UPLOAD, T)[key] == data


def test_large_objects_stream_between_stores_with_other_keys_byte_identical(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = client(s3.endpoint_url)
    c.create_bucket(Bucket=LOCAL)
    c.create_bucket(Bucket=UPLOAD)
    big = os.urandom(20 * MiB + 123)
    c.upload_fileobj(io.BytesIO(big), LOCAL, "m/big.bin", Config=TransferConfig(multipart_chunksize=8 * MiB))
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[local]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n\n"
        "[upload]\naws_access_key_id = another-key\naws_secret_access_key = another-secret\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    source = S3Store(S3Target(LOCAL, s3.endpoint_url, REGION, "local"), persist_checksums=False)
    dest = S3Store(S3Target(UPLOAD, s3.endpoint_url, REGION, "upload"), persist_checksums=False)
    assert not dest.shares_endpoint_with(source) and source.shares_endpoint_with(source)
    moved: list[int] = []

    dest.copy_from(source, "m/big.bin", "x/big.bin", on_bytes=moved.append)

    assert hashlib.sha256(c.get_object(Bucket=UPLOAD, Key="x/big.bin")["Body"].read()).digest() == (
        hashlib.sha256(big).digest()
    )
    assert sum(moved) == len(big)
    assert dest.head("x/big.bin").etag == source.head("m/big.bin").etag  # type: ignore[union-attr]


def test_server_side_copies_of_listed_objects_send_no_head_and_stay_byte_identical(s3: S3Server) -> None:
    c = client(s3.endpoint_url)
    c.create_bucket(Bucket=LOCAL)
    c.create_bucket(Bucket=UPLOAD)
    big, small = os.urandom(20 * MiB + 5), os.urandom(3000)
    c.upload_fileobj(io.BytesIO(big), LOCAL, "m/big.bin", Config=TransferConfig(multipart_chunksize=8 * MiB))
    c.put_object(Bucket=LOCAL, Key="m/small.bin", Body=small)
    source = S3Store(S3Target(LOCAL, s3.endpoint_url, REGION), persist_checksums=False)
    dest = source.reuse_for(S3Target(UPLOAD, s3.endpoint_url, REGION))
    assert dest is not None and dest.shares_endpoint_with(source)
    operations: list[str] = []
    dest.client.meta.events.register("before-call.s3.*", lambda model, **_: operations.append(model.name))
    listed = {o.key: o for o in source.list("m")}
    moved: list[int] = []

    for key in ("m/big.bin", "m/small.bin"):
        dest.copy_from(source, key, key.replace("m/", "x/"), on_bytes=moved.append, known=listed[key])

    assert "HeadObject" not in operations and operations.count("CopyObject") == 1
    assert operations.count("UploadPartCopy") == 3
    assert c.get_object(Bucket=UPLOAD, Key="x/big.bin")["Body"].read() == big
    assert c.get_object(Bucket=UPLOAD, Key="x/small.bin")["Body"].read() == small
    assert dest.head("x/big.bin").etag == listed["m/big.bin"].etag  # type: ignore[union-attr]
    assert sum(moved) == len(big) + len(small)


# ----------------------------------------------------------------------------- SIGKILL through the real command


def test_a_killed_drfc_upload_is_finished_by_running_it_again(s3: S3Server, tmp_path: Path) -> None:
    c = client(s3.endpoint_url)
    c.create_bucket(Bucket="bucket")
    c.create_bucket(Bucket=UPLOAD)
    model = trained_model("rl-deepracer-sagemaker", checkpoints=(1, 2), data_size=1024)
    # Many data shards of 4 MiB make the upload long enough to be killed in the middle.
    name = "2_Step-2007.ckpt"
    del model[f"rl-deepracer-sagemaker/model/{name}.data-00000-of-00001"]
    shards = 40
    for i in range(shards):
        model[f"rl-deepracer-sagemaker/model/{name}.data-{i:05d}-of-{shards:05d}"] = os.urandom(4 * MiB)
    for key, data in model.items():
        c.put_object(Bucket="bucket", Key=key, Body=data)
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[minio]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n\n"
        "[uploader]\naws_access_key_id = other-key\naws_secret_access_key = other-secret\n",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DR_", "AWS_"))}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_ENDPOINT_URL_S3=s3.endpoint_url,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    drfc = [sys.executable, "-m", "drfc", "--dir", str(home)]
    subprocess.run([*drfc, "init", "--cpu"], env=env, check=True, capture_output=True, cwd=ROOT)
    settings = [
        "--set",
        "DR_CLOUD=remote",
        "--set",
        f"DR_REMOTE_MINIO_URL={s3.endpoint_url}",
        "--set",
        f"DR_UPLOAD_S3_BUCKET={UPLOAD}",
        "--set",
        "DR_UPLOAD_S3_PROFILE=uploader",
    ]
    target = "rl-deepracer-sagemaker-1"
    proc = subprocess.Popen([*drfc, *settings, "upload", "-f"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            landed = c.list_objects_v2(Bucket=UPLOAD, Prefix=f"{target}/").get("KeyCount", 0)
            if landed >= 3 or proc.poll() is not None:
                break
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    landed_keys = {o["Key"] for o in c.list_objects_v2(Bucket=UPLOAD, Prefix=f"{target}/").get("Contents", ())}
    if proc.returncode == 0:
        pytest.skip("the upload finished before it could be killed (a very fast machine)")
    assert proc.returncode == -signal.SIGKILL
    for key in landed_keys:  # no half object under a final name
        rel = key[len(target) + 1 :]
        source_key = f"rl-deepracer-sagemaker/{rel}"
        if source_key in model and "/model/" in source_key:
            assert c.get_object(Bucket=UPLOAD, Key=key)["Body"].read() == model[source_key]

    done = subprocess.run(
        [*drfc, *settings, "upload", "-f", "--json"], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["skipped"] >= len(landed_keys) - 2  # generated files may be rewritten identically
    assert summary["verified"] == summary["objects"]
    uploaded = contents(c, UPLOAD, target)
    for i in range(shards):
        key = f"rl-deepracer-sagemaker/model/{name}.data-{i:05d}-of-{shards:05d}"
        assert uploaded[f"{target}/model/{name}.data-{i:05d}-of-{shards:05d}"] == model[key]
