"""The storage commands through Click's CliRunner, against the real S3 server (moto over HTTP).

Each test builds a DRfC home with ``drfc init --cpu`` in ``tmp_path``. The ``minio`` profile of a
temporary AWS credentials file holds the test server's keys, and ``DR_CLOUD=remote`` with
``DR_REMOTE_MINIO_URL`` points the working bucket at the server: remote uses the same bucket and
profile settings as the local store, with an explicit endpoint. Nothing of the host's ``~/.aws``,
``DR_*`` environment or checksum cache is read.

Covered: upload-custom-files (incremental, changed files, --delete, --dry-run, validation,
experiments), download-custom-files, s3 ls, storage status, and the failures users meet most
(rejected credentials, missing bucket, unreachable endpoint, storage start for AWS).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from drfc.adapters.docker_engine import DockerEngine
from drfc.cli.main import App, GlobalOptions, cli
from tests.support.drfc_home import isolate_environment, local_tree
from tests.support.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, free_port
from tests.support.second_s3 import auth_checking_server

pytestmark = pytest.mark.s3

BUCKET = "bucket"  # DRfC's default DR_LOCAL_S3_BUCKET
PREFIX = "custom_files"  # DRfC's default DR_LOCAL_S3_CUSTOM_FILES_PREFIX
CUSTOM_FILES = ("hyperparameters.json", "model_metadata.json", "reward_function.py")


# ----------------------------------------------------------------------------- helpers and fixtures


def write_profile(path: Path, access_key: str, secret_key: str, profile: str = "minio") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"[{profile}]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\nregion = {REGION}\n",
        encoding="utf-8",
    )


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


def remote_tree(client: Any, prefix: str = PREFIX, bucket: str = BUCKET) -> dict[str, bytes]:
    """Every object under the folder ``prefix`` by relative key."""
    folder = f"{prefix}/"
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"][len(folder) :]] = body
    return found


def remote_state(client: Any, bucket: str = BUCKET) -> dict[str, tuple[int, str]]:
    """Every object in the bucket with its size and ETag: enough to see any change."""
    state: dict[str, tuple[int, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            state[item["Key"]] = (item["Size"], item["ETag"])
    return state


def parse_json(result: Result) -> Any:
    assert result.stdout.strip(), f"no JSON on stdout; stderr:\n{result.stderr}"
    return json.loads(result.stdout)


@dataclass
class Home:
    """A DRfC home made by ``drfc init --cpu`` whose working bucket is the test server."""

    path: Path
    endpoint: str
    credentials: Path
    runner: CliRunner = field(default_factory=CliRunner)

    def run(self, *args: str, endpoint: str | None = None, cloud: str = "remote") -> Result:
        """``drfc --dir HOME --set DR_CLOUD=... [--set DR_REMOTE_MINIO_URL=...] ARGS`` in this process."""
        options = ["--dir", str(self.path), "--set", f"DR_CLOUD={cloud}"]
        if cloud == "remote":
            options += ["--set", f"DR_REMOTE_MINIO_URL={endpoint or self.endpoint}"]
        result = self.runner.invoke(cli, [*options, *args], catch_exceptions=True)
        # Every failure must come out of the error boundary as an exit code, never as a Python exception.
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        assert "Traceback" not in result.output
        return result

    def ok(self, *args: str, **kwargs: Any) -> Result:
        result = self.run(*args, **kwargs)
        assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        return result

    def sync_json(self, *args: str, **kwargs: Any) -> dict[str, Any]:
        data = parse_json(self.ok(*args, "--json", **kwargs))
        assert isinstance(data, dict)
        return data

    @property
    def custom_files(self) -> Path:
        return self.path / "custom_files"


def make_home(tmp_path: Path, endpoint: str, credentials: Path, experiment: str | None = None) -> Home:
    home = Home(tmp_path / "home", endpoint, credentials)
    args = ["--dir", str(home.path), *(["-e", experiment] if experiment else []), "init", "--cpu"]
    result = home.runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def home(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A home whose ``minio`` profile holds the server's keys, and an empty working bucket."""
    credentials = isolate_environment(tmp_path, monkeypatch)
    write_profile(credentials, ACCESS_KEY, SECRET_KEY)
    made = make_home(tmp_path, s3.endpoint_url, credentials)
    # `drfc init` keeps an existing profile: the keys are still the server's.
    assert f"aws_access_key_id = {ACCESS_KEY}" in credentials.read_text(encoding="utf-8")
    s3_client(s3.endpoint_url).create_bucket(Bucket=BUCKET)
    return made


@pytest.fixture
def client(s3: S3Server) -> Any:
    return s3_client(s3.endpoint_url)


# ----------------------------------------------------------------------------- upload-custom-files


def test_upload_then_reupload_sends_nothing(home: Home, client: Any) -> None:
    local = local_tree(home.custom_files)
    assert sorted(local) == sorted(CUSTOM_FILES)

    first = home.sync_json("upload-custom-files")
    assert first["uploaded"] == 3 and first["skipped"] == 0 and first["deleted"] == 0
    assert first["bytes"] == sum(len(data) for data in local.values())
    assert first["dry_run"] is False and "actions" not in first
    assert first["source"] == str(home.custom_files) and first["target"] == f"s3://{BUCKET}/{PREFIX}/"
    assert remote_tree(client) == local
    before = remote_state(client)

    again = home.sync_json("upload-custom-files")
    assert (again["uploaded"], again["skipped"], again["deleted"], again["bytes"]) == (0, 3, 0, 0)
    assert remote_state(client) == before  # not even rewritten with the same bytes

    text = home.ok("upload-custom-files")
    assert text.stdout == ""  # the summary is a message (stderr), stdout stays for results
    assert "uploaded 0 file(s)" in text.stderr and "skipped 3 unchanged" in text.stderr


def test_changed_and_new_files_are_uploaded_and_nothing_else(home: Home, client: Any) -> None:
    home.ok("upload-custom-files")
    reward = home.custom_files / "reward_function.py"
    reward.write_text(reward.read_text(encoding="utf-8") + "\n# tuned for the oval track\n", encoding="utf-8")
    hyper = home.custom_files / "hyperparameters.json"
    same_size = hyper.read_bytes().replace(b'"batch_size": 64', b'"batch_size": 32')
    assert same_size != hyper.read_bytes() and len(same_size) == hyper.stat().st_size
    hyper.write_bytes(same_size)
    (home.custom_files / "notes" / "track.txt").parent.mkdir()
    (home.custom_files / "notes" / "track.txt").write_bytes(b"re:Invent 2018")

    result = home.sync_json("upload-custom-files")

    assert (result["uploaded"], result["skipped"]) == (3, 1)
    assert result["bytes"] == reward.stat().st_size + len(same_size) + len(b"re:Invent 2018")
    assert remote_tree(client) == local_tree(home.custom_files)
    assert "notes/track.txt" in remote_tree(client)


def test_delete_removes_only_remote_files_missing_locally_under_the_prefix(home: Home, client: Any) -> None:
    home.ok("upload-custom-files")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/old_reward.py", Body=b"def reward_function(params): return 0")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/old/deep/file.bin", Body=b"x" * 10)
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}-backup/reward_function.py", Body=b"kept: a sibling prefix")
    client.put_object(Bucket=BUCKET, Key="model-a/model/model_metadata.json", Body=b"{}")

    kept = home.sync_json("upload-custom-files")
    assert kept["deleted"] == 0 and kept["uploaded"] == 0
    assert {"old_reward.py", "old/deep/file.bin"} <= set(remote_tree(client))

    result = home.sync_json("upload-custom-files", "--delete")

    assert (result["deleted"], result["uploaded"], result["skipped"]) == (2, 0, 3)
    assert remote_tree(client) == local_tree(home.custom_files)
    assert set(remote_state(client)) == {
        *(f"{PREFIX}/{name}" for name in CUSTOM_FILES),
        f"{PREFIX}-backup/reward_function.py",
        "model-a/model/model_metadata.json",
    }


def test_dry_run_lists_planned_actions_and_changes_nothing(home: Home, client: Any) -> None:
    home.ok("upload-custom-files")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/stale.py", Body=b"# only remote")
    (home.custom_files / "reward_function.py").write_text(
        "def reward_function(params):\n    return 2.0\n", encoding="utf-8"
    )
    (home.custom_files / "extra.json").write_text("{}", encoding="utf-8")
    before = remote_state(client)

    data = home.sync_json("upload-custom-files", "--dry-run", "--delete")

    assert data["dry_run"] is True
    assert (data["uploaded"], data["deleted"], data["skipped"]) == (2, 1, 2)
    planned = {(a["kind"], a["key"]) for a in data["actions"] if a["kind"] != "skip"}
    assert planned == {
        ("upload", f"{PREFIX}/reward_function.py"),
        ("upload", f"{PREFIX}/extra.json"),
        ("delete", f"{PREFIX}/stale.py"),
    }
    reasons = {a["key"]: a["reason"] for a in data["actions"]}
    assert reasons[f"{PREFIX}/extra.json"] == "new" and reasons[f"{PREFIX}/model_metadata.json"] == "unchanged"
    assert remote_state(client) == before

    text = home.ok("upload-custom-files", "--dry-run", "--delete")
    for key in ("reward_function.py", "extra.json", "stale.py"):
        assert f"{PREFIX}/{key}" in text.stdout
    assert "model_metadata.json" not in text.stdout  # skips are not listed
    assert "would upload 2 file(s), delete 1" in text.stderr and "nothing was changed" in text.stderr
    assert remote_state(client) == before


def test_invalid_custom_files_are_refused_unless_no_validate(home: Home, client: Any) -> None:
    (home.custom_files / "reward_function.py").write_text("def reward_function(params)\n    return 1.0\n")
    metadata = home.custom_files / "model_metadata.json"
    metadata.write_text(metadata.read_text(encoding="utf-8").replace('"discrete"', '"sideways"'))

    refused = home.run("upload-custom-files")

    assert refused.exit_code == 4
    assert "invalid; nothing was uploaded" in refused.stderr
    assert "reward_function.py" in refused.stderr and "does not compile" in refused.stderr
    assert "model_metadata.json" in refused.stderr and "sideways" in refused.stderr
    assert "--no-validate" in refused.stderr
    assert remote_state(client) == {}

    as_json = home.run("upload-custom-files", "--json")
    assert as_json.exit_code == 4
    error = parse_json(as_json)["error"]
    assert error["type"] == "CustomFilesError" and error["exit_code"] == 4 and len(error["problems"]) >= 2
    assert remote_state(client) == {}

    forced = home.sync_json("upload-custom-files", "--no-validate")
    assert forced["uploaded"] == 3
    assert remote_tree(client) == local_tree(home.custom_files)


def test_missing_custom_files_folder_is_reported(home: Home, client: Any) -> None:
    for path in home.custom_files.iterdir():
        path.unlink()
    home.custom_files.rmdir()
    result = home.run("upload-custom-files")
    assert result.exit_code == 6
    assert str(home.custom_files) in result.stderr and "download-custom-files" in result.stderr
    assert remote_state(client) == {}


def test_experiment_uploads_its_own_custom_files(
    s3: S3Server, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = isolate_environment(tmp_path, monkeypatch)
    write_profile(credentials, ACCESS_KEY, SECRET_KEY)
    home = make_home(tmp_path, s3.endpoint_url, credentials)
    assert home.runner.invoke(cli, ["--dir", str(home.path), "-e", "oval", "init", "--cpu"]).exit_code == 0
    exp_files = home.path / "experiments" / "oval" / "custom_files"
    assert sorted(p.name for p in exp_files.iterdir()) == sorted(CUSTOM_FILES)
    (exp_files / "reward_function.py").write_text(
        "def reward_function(params):\n    return float(params['speed'])  # oval\n", encoding="utf-8"
    )
    client.create_bucket(Bucket=BUCKET)

    data = parse_json(home.ok("-e", "oval", "upload-custom-files", "--json"))

    assert data["source"] == str(exp_files) and data["uploaded"] == 3
    assert remote_tree(client) == local_tree(exp_files)
    assert remote_tree(client)["reward_function.py"] != (home.custom_files / "reward_function.py").read_bytes()

    # The environment variable selects the experiment as well.
    monkeypatch.setenv("DR_EXPERIMENT_NAME", "oval")
    again = home.sync_json("upload-custom-files")
    assert again["source"] == str(exp_files) and (again["uploaded"], again["skipped"]) == (0, 3)


# ----------------------------------------------------------------------------- download-custom-files


def test_download_round_trip_is_byte_identical_and_incremental(home: Home, client: Any) -> None:
    home.ok("upload-custom-files")
    extra = {
        "tracks/reInvent2019 wide.npy": os.urandom(70_000),
        "tracks/ümlaut/ß.json": '{"größe": 2}'.encode(),
        "empty.txt": b"",
    }
    for rel, data in extra.items():
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{rel}", Body=data)
    expected = remote_tree(client)
    assert len(expected) == 6
    for path in home.custom_files.iterdir():
        path.unlink()
    (home.custom_files / "local-only.txt").write_bytes(b"not in the bucket")

    first = home.sync_json("download-custom-files")

    assert (first["downloaded"], first["deleted"]) == (6, 0)
    assert first["bytes"] == sum(len(data) for data in expected.values())
    assert first["source"] == f"s3://{BUCKET}/{PREFIX}/" and first["target"] == str(home.custom_files)
    assert local_tree(home.custom_files) == {**expected, "local-only.txt": b"not in the bucket"}

    again = home.sync_json("download-custom-files")
    assert (again["downloaded"], again["skipped"], again["bytes"]) == (0, 6, 0)
    nothing_to_do = home.ok("download-custom-files", "--dry-run")
    assert nothing_to_do.stdout == ""  # no empty table
    assert "would download 0 file(s), delete 0, skip 6 unchanged" in nothing_to_do.stderr

    (home.custom_files / "reward_function.py").write_bytes(b"# edited locally\n")
    preview = home.sync_json("download-custom-files", "--delete", "--dry-run")
    assert (preview["downloaded"], preview["deleted"]) == (1, 1)
    assert (home.custom_files / "reward_function.py").read_bytes() == b"# edited locally\n"
    assert (home.custom_files / "local-only.txt").exists()

    mirrored = home.sync_json("download-custom-files", "--delete")
    assert (mirrored["downloaded"], mirrored["deleted"], mirrored["skipped"]) == (1, 1, 5)
    assert local_tree(home.custom_files) == expected


def test_download_into_an_experiment_and_into_a_missing_folder(home: Home, client: Any) -> None:
    home.ok("upload-custom-files")
    exp_files = home.path / "experiments" / "fresh" / "custom_files"
    (exp_files.parent).mkdir(parents=True)
    (exp_files.parent / "run.env").write_text("DR_LOCAL_S3_MODEL_PREFIX=fresh-model\n", encoding="utf-8")
    assert not exp_files.exists()

    data = parse_json(home.ok("-e", "fresh", "download-custom-files", "--json"))

    assert data["target"] == str(exp_files) and data["downloaded"] == 3
    assert local_tree(exp_files) == local_tree(home.custom_files)


# ----------------------------------------------------------------------------- failures


@pytest.fixture
def auth_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3Server, str]]:
    """A server that checks credentials; yields it and an access key id it knows (secret unknown to us)."""
    with auth_checking_server(monkeypatch) as found:
        yield found


@pytest.mark.parametrize(
    ("known_key", "code"), [(False, "InvalidAccessKeyId"), (True, "SignatureDoesNotMatch")], ids=["key", "secret"]
)
def test_rejected_credentials_name_the_profile_and_never_the_secret(
    auth_server: tuple[S3Server, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    known_key: bool,
    code: str,
) -> None:
    server, real_key_id = auth_server
    credentials = isolate_environment(tmp_path, monkeypatch)
    secret = "wr0ng-Secret-that-must-never-be-printed"
    write_profile(credentials, real_key_id if known_key else "AKIADRFCNOTAREALKEY0", secret)
    home = make_home(tmp_path, server.endpoint_url, credentials)

    for args in (
        ("upload-custom-files",),
        ("download-custom-files",),
        ("s3", "ls"),
        ("upload-custom-files", "--json"),
    ):
        result = home.run(*args)
        assert result.exit_code == 21, (args, result.output)
        assert secret not in result.output
        first = result.stderr.splitlines()[0]
        assert first.startswith("error: ") and "profile 'minio'" in first and code in first
        assert server.endpoint_url in first
        assert "aws configure --profile minio" in result.stderr
    error = parse_json(result)["error"]
    assert error["type"] == "S3CredentialsError" and error["exit_code"] == 21

    status = home.run("storage", "status", "--json")
    assert status.exit_code == 21 and secret not in status.output
    report = parse_json(status)
    assert report["reachable"] is False and "profile 'minio'" in report["problem"]


def test_missing_profile_is_a_credentials_error(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = isolate_environment(tmp_path, monkeypatch)
    write_profile(credentials, ACCESS_KEY, SECRET_KEY, profile="someone-else")
    home = make_home(tmp_path, s3.endpoint_url, credentials)
    result = home.run("--set", "DR_LOCAL_S3_PROFILE=not-there", "upload-custom-files")
    assert result.exit_code == 21
    assert "'not-there'" in result.stderr and "aws configure --profile not-there" in result.stderr


def test_missing_bucket_names_bucket_and_endpoint(home: Home, client: Any) -> None:
    client.delete_bucket(Bucket=BUCKET)
    for args in (("upload-custom-files",), ("download-custom-files",), ("s3", "ls"), ("s3", "ls", PREFIX)):
        result = home.run(*args)
        assert result.exit_code == 22, (args, result.output)
        first = result.stderr.splitlines()[0]
        assert first.startswith("error: ") and f"bucket '{BUCKET}' does not exist" in first
        assert f"remote MinIO ({home.endpoint})" in first and first.count(home.endpoint) == 1
    as_json = parse_json(home.run("--json", "upload-custom-files"))["error"]
    assert as_json["type"] == "S3BucketMissingError" and as_json["exit_code"] == 22
    assert "drfc storage start" in as_json["hint"]

    status = home.run("storage", "status", "--json")
    assert status.exit_code == 0  # the store answers; the report says what is missing
    report = parse_json(status)
    assert report["reachable"] is True and report["bucket_exists"] is False and report["objects"] is None
    table = home.ok("storage", "status")
    assert f"{BUCKET} (missing)" in table.stdout


def test_unreachable_endpoint_fails_with_the_fix(home: Home) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    for args in (("upload-custom-files",), ("download-custom-files",), ("s3", "ls")):
        result = home.run(*args, endpoint=closed)
        assert result.exit_code == 20, (args, result.output)
        lines = result.stderr.splitlines()
        assert lines[0].startswith("error: ") and closed in lines[0] and "does not answer" in lines[0]
        assert any(line.startswith("hint: ") and "DR_REMOTE_MINIO_URL" in line for line in lines)
    error = parse_json(home.run("--json", "s3", "ls", endpoint=closed))["error"]
    assert error["type"] == "S3EndpointUnreachableError" and error["exit_code"] == 20
    assert "DR_REMOTE_MINIO_URL" in error["hint"]

    status = home.run("storage", "status", endpoint=closed)
    assert status.exit_code == 20
    assert "reachable" in status.stdout and "no (" in status.stdout
    report = parse_json(home.run("storage", "status", "--json", endpoint=closed))
    assert report["reachable"] is False and report["exit_code"] == 20 and report["endpoint"] == closed


# ----------------------------------------------------------------------------- s3 ls and storage status


def test_s3_ls_shows_folders_then_objects_as_tables_and_json(home: Home, client: Any) -> None:
    home.ok("upload-custom-files")
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/tracks/oval.npy", Body=b"o" * 2048)
    client.put_object(Bucket=BUCKET, Key="model-a/model/model_metadata.json", Body=b"{}")
    client.put_object(Bucket=BUCKET, Key="top.txt", Body=b"top level")
    sizes = {key: size for key, (size, _etag) in remote_state(client).items()}

    root = parse_json(home.ok("s3", "ls", "--json"))
    assert root["bucket"] == BUCKET and root["prefix"] == ""
    assert root["folders"] == [f"{PREFIX}/", "model-a/"]
    assert [(o["key"], o["size"]) for o in root["objects"]] == [("top.txt", 9)]

    table = home.ok("s3", "ls").stdout
    assert f"s3://{BUCKET}/" in table
    assert "PRE" in table and f"{PREFIX}/" in table and "model-a/" in table and "top.txt" in table
    assert "oval.npy" not in table  # not recursive

    for spelled in (PREFIX, f"{PREFIX}/"):
        folder = parse_json(home.ok("s3", "ls", spelled, "--json"))
        assert folder["prefix"] == PREFIX
        assert folder["folders"] == [f"{PREFIX}/tracks/"]
        listed = {o["key"]: o["size"] for o in folder["objects"]}
        assert listed == {f"{PREFIX}/{name}": sizes[f"{PREFIX}/{name}"] for name in CUSTOM_FILES}
        assert all(o["last_modified"] for o in folder["objects"])
        text = home.ok("s3", "ls", spelled).stdout
        assert f"{PREFIX}/tracks/" in text and f"{PREFIX}/reward_function.py" in text and "2.0 KB" not in text

    recursive = parse_json(home.ok("s3", "ls", "-r", "--json"))
    assert {o["key"]: o["size"] for o in recursive["objects"]} == sizes and recursive["folders"] == []
    deep = home.ok("s3", "ls", "--recursive", PREFIX).stdout
    assert f"{PREFIX}/tracks/oval.npy" in deep and "2.0 KB" in deep and "model-a" not in deep

    assert parse_json(home.ok("s3", "ls", "no-such-folder", "--json"))["objects"] == []


def test_s3_ls_of_the_root_spelled_with_a_slash(home: Home, client: Any) -> None:
    home.ok("upload-custom-files")
    listed = parse_json(home.ok("s3", "ls", "/", "--json"))
    assert listed["folders"] == [f"{PREFIX}/"] and listed["objects"] == []


def test_storage_status_reports_reachability_bucket_and_objects(home: Home, client: Any) -> None:
    empty = parse_json(home.ok("storage", "status", "--json"))
    assert (empty["reachable"], empty["bucket_exists"], empty["objects"], empty["bytes"]) == (True, True, 0, 0)

    home.ok("upload-custom-files")
    client.put_object(Bucket=BUCKET, Key="model-a/model/x.bin", Body=b"x" * 5000)
    state = remote_state(client)

    report = parse_json(home.ok("storage", "status", "--json"))
    assert report["reachable"] is True and report["exit_code"] == 0 and report["problem"] is None
    assert report["bucket"] == BUCKET and report["bucket_exists"] is True
    assert report["endpoint"] == home.endpoint
    assert report["objects"] == len(state) == 4
    assert report["bytes"] == sum(size for size, _etag in state.values())
    assert report["container"] is None  # DR_CLOUD=remote: drfc runs no container

    table = home.ok("storage", "status").stdout
    assert "remote MinIO" in table and home.endpoint in table
    assert "yes" in table and f"{BUCKET} (exists)" in table and "4 (" in table


class NoDocker(App):
    """An App whose Docker Engine is unreachable: any use of it would end in exit 10, not 3."""

    def docker(self) -> DockerEngine:
        def unreachable() -> Any:
            raise ConnectionRefusedError("no Docker Engine in this test")

        return DockerEngine(factory=unreachable)


@pytest.mark.parametrize("command", ["start", "stop"])
@pytest.mark.parametrize("cloud", ["aws", "remote"])
def test_storage_start_and_stop_refuse_clouds_without_a_local_store(home: Home, command: str, cloud: str) -> None:
    overrides = {"DR_CLOUD": cloud, "DR_REMOTE_MINIO_URL": home.endpoint}
    for json_mode in (False, True):
        app = NoDocker(GlobalOptions(home=home.path, json=json_mode, overrides=overrides))
        result = home.runner.invoke(cli, ["storage", command], obj=app)
        assert result.exit_code == 3, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        first = result.stderr.splitlines()[0]
        where = "AWS S3" if cloud == "aws" else f"remote MinIO at {home.endpoint}"
        assert first.startswith(f"error: DR_CLOUD={cloud} keeps models in {where}; ")
        assert "drfc runs no store for it" in first
        assert "only used with DR_CLOUD=local or azure" in result.stderr
        if json_mode:
            error = parse_json(result)["error"]
            assert error["exit_code"] == 3 and error["type"] == "ConfigError"
        else:
            assert result.stdout == ""


class VanishingEngine:
    """Just enough of DockerEngine for start_storage: the container it runs disappears at once."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def find(self, label_filter: Any) -> list[Any]:
        return []

    def port_owner(self, port: int) -> None:
        return None

    def ensure_network(self, name: str, *, overlay: bool, labels: Any) -> tuple[str, bool]:
        return "bridge", False

    def image_present(self, ref: str) -> bool:
        return True

    def run(self, spec: Any) -> str:
        self.ran.append(spec.name)
        return "0123456789ab"

    def logs(self, container_id: str, *, tail: int | str = "all") -> str:
        from drfc.errors import NotFoundError

        raise NotFoundError(f"reading logs: No such container: {container_id}")


def test_storage_start_explains_a_container_removed_while_waiting(home: Home) -> None:
    from drfc.core.storage_service import start_storage
    from drfc.errors import RunFailedError

    cfg = App(GlobalOptions(home=home.path, overrides={"DR_CLOUD": "local"})).config()
    engine = VanishingEngine()
    with pytest.raises(RunFailedError) as caught:
        start_storage(cfg, engine, None, say=lambda _m: None, wait_live=lambda _e, _t: False)  # type: ignore[arg-type]
    assert engine.ran == ["drfc-minio"]
    assert "did not answer at http://localhost:9000" in caught.value.message
    assert "drfc-minio no longer exists" in caught.value.message  # not "reading logs: No such container"
