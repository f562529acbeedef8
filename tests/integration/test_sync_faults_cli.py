"""Faults in the middle of a sync, through the real command (``python -m drfc`` in a subprocess).

* The S3 server stops while ``drfc upload-custom-files`` runs: a non-zero exit with one clear error
  line and no traceback; after the server is back, the same command finishes the job.
* drfc is killed with SIGKILL in the middle of an upload, or of a download: nothing half-written is
  visible under a final name (object or file), and running the command again completes the sync,
  transferring exactly what was missing.

The server is moto in server mode over HTTP (its state is lost when it stops, so the bucket is
created again). Every comparison is of content digests, object by object and file by file.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from drfc.core.sync import PARTIAL_MARKER
from tests.support.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from tests.support.second_s3 import second_server

pytestmark = pytest.mark.s3

BUCKET = "bucket"
PREFIX = "custom_files"
ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
DEADLINE = 120.0  # seconds any single wait may take before the test gives up (not a speed check)


# ----------------------------------------------------------------------------- helpers


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )


def write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        left = size
        while left:
            block = min(left, 4 * MiB)
            fh.write(os.urandom(block))
            left -= block


def local_digests(root: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                while block := fh.read(MiB):
                    digest.update(block)
            found[path.relative_to(root).as_posix()] = digest.hexdigest()
    return found


def remote_digests(client: Any, prefix: str = PREFIX) -> dict[str, str]:
    folder = f"{prefix}/"
    found: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=folder):
        for item in page.get("Contents", ()):
            digest = hashlib.sha256()
            for block in client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].iter_chunks(MiB):
                digest.update(block)
            found[item["Key"][len(folder) :]] = digest.hexdigest()
    return found


def remote_count(client: Any) -> int:
    page = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")
    return int(page.get("KeyCount", 0))


def wait_for(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str] | None = None) -> None:
    """Poll ``condition`` every few milliseconds; fail (with drfc's output) if drfc ended first."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"drfc exited ({proc.returncode}) before {what}:\nstdout:\n{out}\nstderr:\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.005)


class Drfc:
    """``python -m drfc --dir HOME --set DR_CLOUD=remote --set DR_REMOTE_MINIO_URL=...`` as a subprocess."""

    def __init__(self, home: Path, endpoint: str, env: dict[str, str]) -> None:
        self.home = home
        self.endpoint = endpoint
        self.env = env

    def argv(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "drfc",
            "--dir",
            str(self.home),
            "--set",
            "DR_CLOUD=remote",
            "--set",
            f"DR_REMOTE_MINIO_URL={self.endpoint}",
            *args,
        ]

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=ROOT,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env, cwd=ROOT, timeout=600)

    def sync(self, *args: str) -> dict[str, Any]:
        done = self.run(*args, "--json")
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        data = json.loads(done.stdout)
        assert isinstance(data, dict)
        return data

    @property
    def custom_files(self) -> Path:
        return self.home / "custom_files"


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The process environment without DR_* and AWS_* variables, with private AWS files and cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DR_", "AWS_")) and k != "DRFC_DEBUG"}
    credentials = tmp_path / "aws" / "credentials"
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text(
        f"[minio]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\nregion = {REGION}\n",
        encoding="utf-8",
    )
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(credentials),
        AWS_CONFIG_FILE=str(tmp_path / "aws" / "config"),
        AWS_EC2_METADATA_DISABLED="true",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        COLUMNS="200",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def make_drfc(tmp_path: Path, endpoint: str) -> Drfc:
    drfc = Drfc(tmp_path / "home", endpoint, clean_env(tmp_path))
    made = subprocess.run(
        [sys.executable, "-m", "drfc", "--dir", str(drfc.home), "init", "--cpu"],
        capture_output=True,
        text=True,
        env=drfc.env,
        cwd=ROOT,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return drfc


def add_load(folder: Path, *, small: int, small_size: int, big: int) -> None:
    """Many small files in nested folders, and one big file (multipart) whose name sorts first."""
    write_random(folder / "0-big-model.tar", big)
    for i in range(small):
        write_random(folder / f"load/{i % 10}/part-{i:04d}.bin", small_size)


def assert_one_clear_error(stderr: str, endpoint: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and not any(line.lstrip().startswith('File "') for line in lines), stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[0] == errors[0], stderr
    assert endpoint in errors[0] and f"s3://{BUCKET}/{PREFIX}/" in errors[0], stderr
    assert "again" in stderr  # what to do next: run the same command again


@pytest.fixture
def own_server() -> Iterator[S3Server]:
    """An S3 server this test may stop and start again (it forgets everything when stopped)."""
    with second_server() as server:
        yield server


# ----------------------------------------------------------------------------- tests


def test_server_stopped_mid_upload_fails_clearly_and_the_rerun_completes(own_server: S3Server, tmp_path: Path) -> None:
    client = s3_client(own_server.endpoint_url)
    client.create_bucket(Bucket=BUCKET)
    drfc = make_drfc(tmp_path, own_server.endpoint_url)
    add_load(drfc.custom_files, small=600, small_size=48 * 1024, big=96 * MiB)
    source = local_digests(drfc.custom_files)

    proc = drfc.start("upload-custom-files")
    wait_for(lambda: remote_count(client) > 0, "the first objects arrived", proc)
    own_server.stop()
    out, err = proc.communicate(timeout=DEADLINE)

    assert proc.returncode in (20, 24), f"exit {proc.returncode}\n{out}\n{err}"  # unreachable / transfer broke
    assert_one_clear_error(err, own_server.endpoint_url)
    assert "transfers completed before the failure" in err

    own_server.start()  # a new, empty server on the same port
    client.create_bucket(Bucket=BUCKET)
    result = drfc.sync("upload-custom-files")

    assert result["uploaded"] == len(source) and result["skipped"] == 0
    assert remote_digests(client) == source


def test_upload_killed_with_sigkill_is_finished_by_the_next_run(s3: S3Server, tmp_path: Path) -> None:
    client = s3_client(s3.endpoint_url)
    client.create_bucket(Bucket=BUCKET)
    drfc = make_drfc(tmp_path, s3.endpoint_url)
    add_load(drfc.custom_files, small=400, small_size=40 * 1024, big=80 * MiB)
    source = local_digests(drfc.custom_files)

    proc = drfc.start("upload-custom-files")
    wait_for(lambda: remote_count(client) > 0, "the first objects arrived", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=DEADLINE)
    assert proc.returncode == -signal.SIGKILL

    present = remote_digests(client)
    assert 0 < len(present) < len(source), "the kill did not land in the middle of the upload"
    assert "0-big-model.tar" not in present
    for rel, digest in present.items():
        assert digest == source[rel], f"{rel} is visible with partial or wrong content"

    result = drfc.sync("upload-custom-files")

    assert (result["uploaded"], result["skipped"]) == (len(source) - len(present), len(present))
    assert result["bytes"] > 80 * MiB  # the big file was among what this run sent
    assert remote_digests(client) == source


def test_download_killed_with_sigkill_leaves_no_partial_file_and_the_rerun_completes(
    s3: S3Server, tmp_path: Path
) -> None:
    client = s3_client(s3.endpoint_url)
    client.create_bucket(Bucket=BUCKET)
    drfc = make_drfc(tmp_path, s3.endpoint_url)
    add_load(drfc.custom_files, small=300, small_size=40 * 1024, big=80 * MiB)
    assert drfc.sync("upload-custom-files")["uploaded"] == len(local_digests(drfc.custom_files)) == 304
    expected = remote_digests(client)
    target = drfc.custom_files
    target.rename(tmp_path / "uploaded-copy")  # the download starts from a missing folder

    def some_file_is_complete() -> bool:
        return any(PARTIAL_MARKER not in name for _folder, _dirs, names in os.walk(target) for name in names)

    proc = drfc.start("download-custom-files")
    wait_for(some_file_is_complete, "the first downloaded file", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=DEADLINE)
    assert proc.returncode == -signal.SIGKILL

    got = local_digests(target)
    finals = {rel: digest for rel, digest in got.items() if PARTIAL_MARKER not in rel}
    partials = [rel for rel in got if PARTIAL_MARKER in rel]
    assert 0 < len(finals) < len(expected), "the kill did not land in the middle of the download"
    for rel, digest in finals.items():
        assert digest == expected[rel], f"{rel} holds partial or wrong content under its final name"
    assert all(Path(rel).name.startswith(".") for rel in partials)  # hidden temporary names only

    result = drfc.sync("download-custom-files")

    assert (result["downloaded"], result["skipped"]) == (len(expected) - len(finals), len(finals))
    assert local_digests(target) == expected  # byte-identical, and no leftover temporary file
