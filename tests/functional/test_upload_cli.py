"""`drfc upload`, `car export`, `download-model` and `increment-upload-model` through Click's CliRunner,
against the real S3 server (moto in server mode over HTTP).

The home is made by ``drfc init --cpu``; ``DR_CLOUD=remote`` points the working bucket at the server
(profile ``minio``), and the upload bucket is reached as users reach theirs: profile
``DR_UPLOAD_S3_PROFILE=uploader`` with the endpoint from ``AWS_ENDPOINT_URL_S3`` (or the profile's
``endpoint_url``). The uploader's keys differ from the local store's, so the bytes are streamed
through drfc; ``--local`` copies server-side. A synthetic trained model (``tests/support/model_prefix``)
is put under the run's model prefix. Every comparison is of object contents.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from click.testing import CliRunner
from tests.support.drfc_home import DrfcCli, isolate_environment
from tests.support.model_prefix import ckpt_name, trained_model
from tests.support.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

pytestmark = pytest.mark.s3

LOCAL = "bucket"  # DR_LOCAL_S3_BUCKET default
UPLOAD = "upload-bucket"
MODEL = "rl-deepracer-sagemaker"  # DR_LOCAL_S3_MODEL_PREFIX default
TARGET = f"{MODEL}-1"  # DR_UPLOAD_S3_PREFIX default: $DR_LOCAL_S3_MODEL_PREFIX-1
UPLOADER_KEY, UPLOADER_SECRET = "uploader-access-key", "uploader-secret-key-0123"


def tree(client: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    folder = f"{prefix}/"
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        for item in page.get("Contents", ()):
            found[item["Key"][len(folder) :]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def state(client: Any) -> dict[str, tuple[int, str]]:
    """Every object of every bucket with size and ETag: enough to see any change."""
    found: dict[str, tuple[int, str]] = {}
    for bucket in (b["Name"] for b in client.list_buckets()["Buckets"]):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", ()):
                found[f"{bucket}/{item['Key']}"] = (item["Size"], item["ETag"])
    return found


@dataclass
class Env(DrfcCli):
    path: Path
    endpoint: str
    client: Any
    model: dict[str, bytes]
    runner: CliRunner = field(default_factory=CliRunner)

    def put_model(self, objects: dict[str, bytes], bucket: str = LOCAL) -> None:
        for key, data in objects.items():
            self.client.put_object(Bucket=bucket, Key=key, Body=data)


@pytest.fixture
def env(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    credentials = isolate_environment(tmp_path, monkeypatch)
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text(
        f"[minio]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\nregion = {REGION}\n\n"
        f"[uploader]\naws_access_key_id = {UPLOADER_KEY}\naws_secret_access_key = {UPLOADER_SECRET}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    client.create_bucket(Bucket=LOCAL)
    client.create_bucket(Bucket=UPLOAD)
    made = Env(tmp_path / "home", s3.endpoint_url, client, trained_model(MODEL, checkpoints=(1, 4, 10, 11, 12), best=4))
    made.ok("init", "--cpu")
    made.ok(
        "config",
        "set",
        "DR_CLOUD=remote",
        f"DR_REMOTE_MINIO_URL={s3.endpoint_url}",
        f"DR_UPLOAD_S3_BUCKET={UPLOAD}",
        "DR_UPLOAD_S3_PROFILE=uploader",
    )
    made.put_model(made.model)
    yield made


def expected_copies(model: dict[str, bytes], n: int) -> dict[str, bytes]:
    """The objects an upload of checkpoint ``n`` copies unchanged, by target path."""
    name = ckpt_name(n)
    m = f"{MODEL}/model"
    copies = {f"model/{name}.{s}": model[f"{m}/{name}.{s}"] for s in ("index", "meta", "data-00000-of-00001")}
    copies[f"model/model_{n}.pb"] = model[f"{m}/model_{n}.pb"]
    copies["model/model_metadata.json"] = copies["model_metadata.json"] = model[f"{m}/model_metadata.json"]
    copies["reward_function.py"] = model[f"{MODEL}/reward_function.py"]
    copies["ip/hyperparameters.json"] = model[f"{MODEL}/ip/hyperparameters.json"]
    copies["metrics/TrainingMetrics.json"] = model[f"{MODEL}/metrics/TrainingMetrics.json"]
    copies["metrics/evaluation/evaluation-20260101120000.json"] = model[
        f"{MODEL}/metrics/evaluation/evaluation-20260101120000.json"
    ]
    return copies


# ----------------------------------------------------------------------------- upload


def test_upload_copies_the_last_checkpoint_verifies_it_and_a_rerun_copies_nothing(env: Env) -> None:
    data = env.json("upload", "-f")

    uploaded = tree(env.client, UPLOAD, TARGET)
    copies = expected_copies(env.model, 12)
    assert {k: v for k, v in uploaded.items() if k in copies} == copies
    training = [k for k in uploaded if k.startswith("metrics/training/training-")]
    assert len(training) == 1 and uploaded[training[0]] == env.model[f"{MODEL}/metrics/TrainingMetrics.json"]
    generated = set(uploaded) - set(copies) - set(training)
    assert generated == {"model/deepracer_checkpoints.json", "model/.coach_checkpoint", "training_params.yaml"}
    assert uploaded["model/.coach_checkpoint"] == ckpt_name(12).encode()
    record = json.loads(uploaded["model/deepracer_checkpoints.json"])
    assert record["last_checkpoint"]["name"] == record["best_checkpoint"]["name"] == ckpt_name(12)
    params = yaml.safe_load(uploaded["training_params.yaml"])
    assert params["SAGEMAKER_SHARED_S3_BUCKET"] == UPLOAD and params["SAGEMAKER_SHARED_S3_PREFIX"] == TARGET
    assert params["MODEL_METADATA_FILE_S3_KEY"] == f"{TARGET}/model/model_metadata.json"

    assert (data["checkpoint"], data["best_checkpoint"], data["last_checkpoint"], data["choice"]) == (12, 4, 12, "last")
    assert data["copied"] + data["written"] == len(uploaded) == data["verified"] == data["objects"]
    assert data["target"] == f"s3://{UPLOAD}/{TARGET}/" and data["method"] == "streamed"
    assert data["bytes"] == sum(len(v) for v in uploaded.values())

    before = state(env.client)
    again = env.json("upload", "-f")
    counts = (again["copied"], again["written"], again["skipped"], again["verified"])
    assert counts == (0, 0, len(uploaded), len(uploaded))
    assert state(env.client) == before


def test_best_prints_the_line_scripts_parse_and_uploads_that_checkpoint(env: Env) -> None:
    result = env.ok("upload", "--best", "-f")
    assert "Best checkpoint: 4" in result.stdout.splitlines()
    assert [line for line in result.stdout.splitlines() if "checkpoint:" in line] == ["Best checkpoint: 4"]
    uploaded = tree(env.client, UPLOAD, TARGET)
    assert uploaded["model/.coach_checkpoint"] == ckpt_name(4).encode()
    suffixes = ("index", "meta", "data-00000-of-00001")
    assert {k for k in uploaded if ".ckpt." in k} == {f"model/{ckpt_name(4)}.{s}" for s in suffixes}


def test_checkpoint_1_takes_only_checkpoint_1(env: Env) -> None:
    data = env.json("upload", "-c", "1", "-f")
    assert data["checkpoint"] == 1
    names = set(tree(env.client, UPLOAD, TARGET))
    assert {k for k in names if k.startswith("model/") and (".ckpt." in k or k.endswith(".pb"))} == {
        f"model/{ckpt_name(1)}.index",
        f"model/{ckpt_name(1)}.meta",
        f"model/{ckpt_name(1)}.data-00000-of-00001",
        "model/model_1.pb",
    }


def test_dry_run_changes_nothing_and_shows_the_plan(env: Env) -> None:
    env.client.put_object(Bucket=UPLOAD, Key=f"{TARGET}/reward_function.py", Body=b"an older reward")
    env.client.put_object(Bucket=UPLOAD, Key=f"{TARGET}/model/stale.bin", Body=b"stale")
    before = state(env.client)

    data = env.json("upload", "--dry-run", "--wipe")
    assert data["dry_run"] is True and data["verified"] == 0
    kinds = {step["key"]: step for step in data["steps"]}
    assert kinds[f"{TARGET}/reward_function.py"]["replaces"] is True
    assert kinds[f"{TARGET}/model/stale.bin"]["kind"] == "delete"
    text = env.ok("upload", "--dry-run", "--wipe")
    assert "nothing was changed" in text.stderr and f"{TARGET}/model/stale.bin" in text.stdout
    assert state(env.client) == before


def test_wipe_deletes_only_what_is_not_part_of_the_model_under_the_exact_prefix(env: Env) -> None:
    env.client.put_object(Bucket=UPLOAD, Key=f"{TARGET}/model/99_Step-1.ckpt.index", Body=b"old")
    env.client.put_object(Bucket=UPLOAD, Key=f"{TARGET}-2/reward_function.py", Body=b"sibling")
    kept = env.json("upload", "-f")
    assert kept["deleted"] == 0 and kept["untouched"] == 1
    assert "1 object(s) that are not part of this model" in env.ok("upload", "-f").stderr
    assert "model/99_Step-1.ckpt.index" in tree(env.client, UPLOAD, TARGET)

    wiped = env.json("upload", "-f", "--wipe")
    assert wiped["deleted"] == 1 and wiped["copied"] == wiped["written"] == 0
    assert "model/99_Step-1.ckpt.index" not in tree(env.client, UPLOAD, TARGET)
    assert tree(env.client, UPLOAD, f"{TARGET}-2") == {"reward_function.py": b"sibling"}


def test_local_copies_server_side_into_the_working_bucket_and_refuses_the_source(env: Env) -> None:
    data = env.json("upload", "-L", "-f")
    assert data["target"] == f"s3://{LOCAL}/{TARGET}/" and data["method"] == "server-side copy"
    copied = tree(env.client, LOCAL, TARGET)
    assert {k: v for k, v in copied.items() if k in expected_copies(env.model, 12)} == expected_copies(env.model, 12)
    assert copied["model/.coach_checkpoint"] == ckpt_name(12).encode()
    assert yaml.safe_load(copied["training_params.yaml"])["SAGEMAKER_SHARED_S3_BUCKET"] == LOCAL
    assert not tree(env.client, UPLOAD, TARGET)

    before = state(env.client)
    same = env.run("upload", "-L", "-f", "-p", MODEL)
    assert same.exit_code == 5 and "equals the source" in same.stderr
    inside = env.run("--set", f"DR_UPLOAD_S3_PREFIX={MODEL}/export", "upload", "-L", "-f")
    assert inside.exit_code == 5 and "overlaps" in inside.stderr
    assert state(env.client) == before


def test_the_profile_endpoint_url_is_honoured(env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    config = tmp_path / "aws" / "config"
    config.write_text(f"[profile uploader]\nendpoint_url = {env.endpoint}\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    data = env.json("upload", "-f")
    assert data["verified"] > 0 and tree(env.client, UPLOAD, TARGET)


def test_same_keys_at_the_same_endpoint_copy_server_side(env: Env) -> None:
    data = env.json("--set", "DR_UPLOAD_S3_PROFILE=minio", "upload", "-f")
    assert data["method"] == "server-side copy" and data["verified"] == data["objects"]
    assert tree(env.client, UPLOAD, TARGET)["model/.coach_checkpoint"] == ckpt_name(12).encode()


# ----------------------------------------------------------------------------- upload failures


def test_missing_files_are_named_and_nothing_is_transferred(env: Env) -> None:
    env.client.delete_object(Bucket=LOCAL, Key=f"{MODEL}/ip/hyperparameters.json")
    env.client.delete_object(Bucket=LOCAL, Key=f"{MODEL}/model/model_metadata.json")
    before = state(env.client)
    result = env.run("upload", "-f")
    assert result.exit_code == 6
    assert f"{MODEL}/ip/hyperparameters.json" in result.stderr
    assert f"{MODEL}/model/model_metadata.json" in result.stderr
    assert state(env.client) == before

    as_json = env.run("upload", "-f", "--json")
    assert as_json.exit_code == 6 and json.loads(as_json.stdout)["error"]["type"] == "NotFoundError"


def test_a_deleted_checkpoint_and_a_missing_model_are_not_found(env: Env) -> None:
    result = env.run("upload", "-c", "7", "-f")
    assert result.exit_code == 6 and "checkpoint 7" in result.stderr and "1, 4, 10, 11, 12" in result.stderr
    nothing = env.run("upload", "-p", "no-such-model", "-f")
    assert nothing.exit_code == 6 and "no model at s3://bucket/no-such-model/" in nothing.stderr
    both = env.run("upload", "--best", "-c", "3")
    assert both.exit_code == 2


def test_configuration_and_bucket_problems_have_their_own_exit_codes(env: Env) -> None:
    unset = env.run("--set", "DR_UPLOAD_S3_BUCKET=not-defined", "upload", "-f")
    assert unset.exit_code == 3 and "DR_UPLOAD_S3_BUCKET" in unset.stderr
    missing = env.run("--set", "DR_UPLOAD_S3_BUCKET=no-such-bucket", "upload", "-f")
    assert missing.exit_code == 22 and "no-such-bucket" in missing.stderr


def test_without_f_and_without_a_terminal_nothing_is_uploaded(env: Env) -> None:
    before = state(env.client)
    result = env.run("upload")
    assert result.exit_code == 7 and "-f" in result.stderr
    assert state(env.client) == before


def test_droa_hook_and_its_options(env: Env) -> None:
    assert env.run("upload", "--name", "x").exit_code == 2
    assert env.run("upload", "--droa", "--local").exit_code == 2


# ----------------------------------------------------------------------------- car export


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_car_export_holds_exactly_the_frozen_graph_and_the_metadata(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "cars"
    out.mkdir()
    data = env.json("car", "export", "--best", "-o", str(out))
    path = out / f"{MODEL}-chk4.tar.gz"
    assert data["file"] == str(path) and data["checkpoint"] == 4 and data["key"] is None
    assert members(path.read_bytes()) == {
        "agent/model.pb": env.model[f"{MODEL}/model/model_4.pb"],
        "model_metadata.json": env.model[f"{MODEL}/model/model_metadata.json"],
    }
    assert data["members"] == ["agent/model.pb", "model_metadata.json"]

    uploaded = env.json("car", "export", "--best", "-o", str(out), "--upload")  # same bytes: no conflict
    key = f"{MODEL}/car/{MODEL}-chk4.tar.gz"
    assert uploaded["key"] == f"s3://{LOCAL}/{key}"
    assert env.client.get_object(Bucket=LOCAL, Key=key)["Body"].read() == path.read_bytes()

    other = env.run("car", "export", "-o", str(path))  # last (12) into the file holding 4
    assert other.exit_code == 5 and "-f" in other.stderr
    assert env.ok("car", "export", "-o", str(path), "-f")
    assert members(path.read_bytes())["agent/model.pb"] == env.model[f"{MODEL}/model/model_12.pb"]


def test_car_export_without_a_frozen_graph_names_those_present(env: Env, tmp_path: Path) -> None:
    env.client.delete_object(Bucket=LOCAL, Key=f"{MODEL}/model/model_12.pb")
    result = env.run("car", "export", "-o", str(tmp_path / "car.tar.gz"))
    assert result.exit_code == 6 and "model_12.pb" in result.stderr and "1, 4, 10, 11" in result.stderr
    assert not (tmp_path / "car.tar.gz").exists()


# ----------------------------------------------------------------------------- download-model and increment


def test_download_model_copies_a_model_into_the_working_bucket(env: Env) -> None:
    env.ok("upload", "-f")
    source = tree(env.client, UPLOAD, TARGET)
    data = env.json("download-model", "-s", f"s3://{UPLOAD}/{TARGET}", "-t", "imported", "-f")
    assert tree(env.client, LOCAL, "imported") == source
    assert data["verified"] == len(source) and data["copied"] == len(source)

    before = state(env.client)
    dry = env.json("download-model", "-s", f"s3://{UPLOAD}/{TARGET}/", "-t", "elsewhere", "--dry-run")
    assert dry["dry_run"] is True and dry["copied"] == len(source) and state(env.client) == before

    missing = env.run("download-model", "-s", f"s3://{UPLOAD}/nothing-here", "-f")
    assert missing.exit_code == 6 and "is not a model" in missing.stderr
    bad = env.run("download-model", "-s", "bucket-without-scheme/x")
    assert bad.exit_code == 2


def test_increment_upload_model_keeps_the_reference_and_bumps_the_number(env: Env) -> None:
    data = env.json("increment-upload-model", "-f")
    assert (data["from"], data["to"], data["written"]) == (TARGET, f"{MODEL}-2", "$DR_LOCAL_S3_MODEL_PREFIX-2")
    run_env = (env.path / "run.env").read_text(encoding="utf-8")
    assert "DR_UPLOAD_S3_PREFIX=$DR_LOCAL_S3_MODEL_PREFIX-2" in run_env
    assert env.ok("config", "get", "DR_UPLOAD_S3_PREFIX").stdout.strip() == f"{MODEL}-2"

    env.ok("config", "set", "DR_UPLOAD_S3_PREFIX=MyModel-009")
    assert env.json("increment-upload-model", "-f")["to"] == "MyModel-010"
    assert env.run("increment-upload-model").exit_code == 7  # no terminal, no -f: nothing changes
    assert env.ok("config", "get", "DR_UPLOAD_S3_PREFIX").stdout.strip() == "MyModel-010"
