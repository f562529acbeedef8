"""`drfc models ...` and `drfc upload --droa` through Click's CliRunner, against the DeepRacer on AWS
test double (tests/support/droa_double.py: env.js, moto Cognito, SigV4-verifying API, moto S3).

The home is made by ``drfc init --cpu``; ``DR_CLOUD=remote`` puts the working bucket in the double's
moto (profile ``minio``), where a synthetic trained model lies under the run's model prefix. The
upload bucket is reached with the identity pool's credentials through ``AWS_ENDPOINT_URL_S3``.
The password is typed at the prompt unless a test sets DR_DROA_PASSWORD.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from drfc.cli.main import cli
from tests.support.drfc_home import isolate_environment
from tests.support.droa_double import UPLOAD_BUCKET, DroaDouble
from tests.support.model_prefix import ckpt_name, trained_model
from tests.support.s3server import free_port

pytestmark = pytest.mark.s3

USER, PASSWORD = "racer", "Sw0rdfish-Tr4ck!"
LOCAL = "bucket"  # DR_LOCAL_S3_BUCKET default
MODEL = "rl-deepracer-sagemaker"  # DR_LOCAL_S3_MODEL_PREFIX default
FAST = ("--poll-interval", "0.05")


@dataclass
class Env:
    path: Path
    droa: DroaDouble
    cache: Path
    runner: CliRunner = field(default_factory=CliRunner)

    def run(self, *args: str, input: str | None = None) -> Result:
        result = self.runner.invoke(cli, ["--dir", str(self.path), *args], input=input)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        assert "Traceback" not in result.output
        return result

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self.run(*args, input=input)
        assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", input=input).stdout)

    def uploads(self) -> list[str]:
        listed = self.droa.aws("s3").list_objects_v2(Bucket=UPLOAD_BUCKET)
        return [o["Key"] for o in listed.get("Contents", [])]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    droa = DroaDouble.shared()
    droa.reset()
    credentials = isolate_environment(tmp_path, monkeypatch)
    for key, value in droa.client_env().items():
        monkeypatch.setenv(key, value)
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text("[minio]\naws_access_key_id = local-key\naws_secret_access_key = local-secret\n")
    droa.add_user(USER, PASSWORD)
    s3 = droa.aws("s3")
    s3.create_bucket(Bucket=LOCAL)
    for key, data in trained_model(MODEL, checkpoints=(1, 2, 3)).items():
        s3.put_object(Bucket=LOCAL, Key=key, Body=data)
    made = Env(tmp_path / "home", droa, tmp_path / "cache" / "drfc" / "droa")
    made.ok("init", "--cpu")
    made.ok(
        "config",
        "set",
        "DR_CLOUD=remote",
        f"DR_REMOTE_MINIO_URL={droa.moto_url}",
        f"DR_DROA_URL={droa.site_url}",
        f"DR_DROA_USERNAME={USER}",
    )
    return made


# ----------------------------------------------------------------------------- sign-in


def test_the_first_command_asks_for_the_password_and_the_next_ones_use_the_private_cache(env: Env) -> None:
    first = env.ok("models", "list", input=f"{PASSWORD}\n")
    assert "DeepRacer on AWS password for racer" in first.stderr
    assert "signed in to" in first.stderr and "no models in" in first.stderr
    [cache] = list(env.cache.iterdir())
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600 and stat.S_IMODE(os.stat(env.cache).st_mode) == 0o700

    second = env.ok("models", "list")  # no input: a prompt would fail the command
    assert "password" not in second.stderr.lower()


def test_secrets_never_reach_the_output_even_with_droa_debug(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_DROA_PASSWORD", PASSWORD)
    monkeypatch.setenv("DR_DROA_DEBUG", "True")
    env.droa.add_model(USER, "one")
    result = env.ok("models", "list")
    [issued] = env.droa.issued.values()
    assert "droa: GET" in result.stderr and "signed headers:" in result.stderr  # debug really was on
    for secret in (PASSWORD, issued.secret_key, issued.session_token):
        assert secret not in result.output
    assert issued.access_key_id not in result.stdout


def test_credentials_expired_on_the_server_are_renewed_without_asking_again(env: Env) -> None:
    model_id = env.droa.add_model(USER, "one")
    env.ok("models", "list", input=f"{PASSWORD}\n")
    env.droa.expire_credentials()
    data = env.json("models", "get", model_id)
    assert data["name"] == "one"
    assert [r.status for r in env.droa.requests[-2:]] == [403, 200]


def test_a_wrong_password_exits_40_with_cognitos_reason(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_DROA_PASSWORD", "wrong-password")
    result = env.run("models", "list", "--json")
    assert result.exit_code == 40
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "DroaAuthError" and "Incorrect username or password" in error["message"]
    assert "wrong-password" not in result.output


def test_an_unreachable_site_exits_40_and_a_missing_url_is_a_configuration_error(env: Env) -> None:
    down = env.run("--set", f"DR_DROA_URL=http://127.0.0.1:{free_port()}", "models", "list")
    assert down.exit_code == 40 and "cannot reach DeepRacer on AWS" in down.stderr
    unset = env.run("--set", "DR_DROA_URL=", "models", "list")
    assert unset.exit_code == 3 and "DR_DROA_URL is not set" in unset.stderr


# ----------------------------------------------------------------------------- list / get / delete / logs


def test_list_shows_a_table_and_json_newest_first(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_DROA_PASSWORD", PASSWORD)
    older = env.droa.add_model(USER, "older", createdAt="2026-01-01T10:00:00.000Z")
    newer = env.droa.add_model(USER, "newer", createdAt="2026-03-01T10:00:00.000Z")
    env.droa.add_model(USER, "middle", createdAt="2026-02-01T10:00:00.000Z", status="ERROR")
    env.droa.add_model("another-racer", "theirs")
    data = env.json("models", "list")
    assert [m["name"] for m in data["models"]] == ["newer", "middle", "older"]
    assert data["site"] == env.droa.site_url
    table = env.ok("models", "list").stdout
    assert "Model ID" in table and newer in table and older in table and "theirs" not in table
    assert "2026-03-01 10:00:00" in table


def test_get_prints_the_model_and_an_unknown_id_exits_40(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_DROA_PASSWORD", PASSWORD)
    model_id = env.droa.add_model(USER, "shown")
    assert env.json("models", "get", model_id)["modelId"] == model_id
    table = env.ok("models", "get", model_id).stdout
    assert "reInvent2019_wide CLOCKWISE" in table and "DEEPRACER BLACK" in table
    missing = env.run("models", "get", "nosuchmodel1234")
    assert missing.exit_code == 40 and "not found: Model not found" in missing.stderr


def test_delete_asks_refuses_busy_models_and_deletes_with_force(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_DROA_PASSWORD", PASSWORD)
    ready = env.droa.add_model(USER, "to-delete")
    busy = env.droa.add_model(USER, "busy", status="IMPORTING")

    declined = env.run("models", "delete", ready)  # no terminal: the question counts as "no"
    assert declined.exit_code == 7 and "was not deleted" in declined.stderr
    assert env.droa.models[ready]["status"] == "READY"

    refused = env.run("models", "delete", busy, "-f")
    assert refused.exit_code == 40 and "is IMPORTING" in refused.stderr
    assert env.droa.models[busy]["status"] == "IMPORTING"

    data = env.json("models", "delete", ready, "-f")
    assert data == {"modelId": ready, "name": "to-delete", "status": "DELETING"}
    assert env.droa.models[ready]["status"] == "DELETING"


def test_download_logs_saves_the_file_and_never_overwrites_without_force(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DR_DROA_PASSWORD", PASSWORD)
    model_id = env.droa.add_model(USER, "logged")
    out = tmp_path / "downloads"
    out.mkdir()
    data = env.json("models", "download-logs", model_id, "-o", str(out))
    path = Path(data["path"])
    assert path.parent == out and path.name == f"{model_id}-training_logs.tar.gz"
    assert path.read_bytes() == b"TRAINING_LOGS of logged\n" * 100 and data["bytes"] == path.stat().st_size

    again = env.run("models", "download-logs", model_id, "-o", str(path))
    assert again.exit_code == 5 and "exists" in again.stderr
    env.ok("models", "download-logs", model_id, "-o", str(path), "-f", "--asset-type", "VIRTUAL_MODEL", *FAST)
    assert path.read_bytes() == b"VIRTUAL_MODEL of logged\n" * 100


# ----------------------------------------------------------------------------- import


def test_import_uploads_checks_and_waits_until_ready(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_DROA_PASSWORD", PASSWORD)
    data = env.json("models", "import", "--best", "--name", "Fast-Car-1", "--description", "drfc test", *FAST)
    assert data["status"] == "READY" and data["name"] == "Fast-Car-1"
    assert data["checkpoint"] == 3 and data["s3Bucket"] == UPLOAD_BUCKET
    model = data["model"]
    assert model["modelId"] == data["modelId"] and model["description"] == "drfc test"
    assert model["trainingConfig"]["trackConfig"]["trackDirection"] == "CLOCKWISE"
    assert "discrete, 2 actions" in env.ok("models", "get", data["modelId"]).stdout
    keys = env.uploads()
    assert all(k.startswith(data["s3Path"] + "/") for k in keys)
    assert (
        f"{data['s3Path']}/model/{ckpt_name(3)}.index" in keys and f"{data['s3Path']}/ip/hyperparameters.json" in keys
    )


def test_upload_droa_is_models_import_with_a_progress_line(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_DROA_PASSWORD", PASSWORD)
    result = env.ok("upload", "--droa", "-c", "2")
    assert "importing …" in result.stderr and "ready …" in result.stderr
    assert "model 'rl-deepracer-sagemaker-1'" in result.stderr and "is READY" in result.stderr
    [model] = env.droa.models.values()
    assert model["name"] == "rl-deepracer-sagemaker-1" and model["status"] == "READY"  # DR_UPLOAD_S3_PREFIX
    params = yaml.safe_load(env.droa.uploaded(model["_prefix"])["training_params.yaml"])
    assert params["SAGEMAKER_SHARED_S3_PREFIX"] == model["_prefix"]
    assert env.droa.uploaded(model["_prefix"])["model/.coach_checkpoint"] == ckpt_name(2).encode()


def test_an_import_ending_in_error_exits_40_with_droas_reason(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_DROA_PASSWORD", PASSWORD)
    env.droa.aws("s3").put_object(Bucket=LOCAL, Key=f"{MODEL}/reward_function.py", Body=b"def reward(:\n")
    result = env.run("models", "import", "--json", *FAST)
    assert result.exit_code == 40
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "DroaImportError" and "Reward Function Validation failed: SyntaxError" in error["message"]
    assert "ended in ERROR" in result.stderr


def test_pre_flight_problems_stop_before_sign_in_and_upload(env: Env) -> None:
    s3 = env.droa.aws("s3")
    key = f"{MODEL}/training_params.yaml"
    text = s3.get_object(Bucket=LOCAL, Key=key)["Body"].read().replace(b"reInvent2019_wide", b"my_own_track")
    s3.put_object(Bucket=LOCAL, Key=key, Body=text)
    result = env.run("models", "import", "--name", "bad_name")
    assert result.exit_code == 40
    assert "would be refused by DeepRacer on AWS; nothing was uploaded" in result.stderr
    assert "model name 'bad_name' is not allowed" in result.stderr
    assert "track 'my_own_track' is not a DeepRacer on AWS track" in result.stderr
    assert env.uploads() == [] and env.droa.issued == {} and env.droa.requests == []  # never signed in


def test_dry_run_plans_and_checks_without_signing_in(env: Env) -> None:
    data = env.json("models", "import", "--dry-run", "--name", "planned")
    assert data["dry_run"] is True and data["preflight"]["ok"] is True
    assert data["preflight"]["track"] == "reInvent2019_wide" and data["preflight"]["direction"] == "CLOCKWISE"
    targets = {item["target"] for item in data["items"]}
    assert {"training_params.yaml", "ip/hyperparameters.json", "model/.coach_checkpoint"} <= targets
    assert any(t.startswith("metrics/training/training-") for t in targets)
    assert env.uploads() == [] and env.droa.issued == {}
    table = env.ok("models", "import", "--dry-run").stdout
    assert "training_params.yaml" in table and "generated" in table
