"""`drfc start-training --dry-run`: the plan from configuration alone (no Docker, no S3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from drfc.cli.main import cli


@pytest.fixture
def home(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"), "DOCKER_HOST": "tcp://127.0.0.1:1"}
    result = CliRunner().invoke(cli, ["--dir", str(tmp_path), "init", "--cpu"], env=env)
    assert result.exit_code == 0, result.output
    return tmp_path, env


def plan(home: tuple[Path, dict[str, str]], *args: str) -> dict:
    path, env = home
    result = CliRunner().invoke(cli, ["--dir", str(path), *args, "start-training", "--dry-run", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plan_shape_and_masking(home: tuple[Path, dict[str, str]]) -> None:
    doc = plan(home, "--set", "DR_WORKERS=3", "--set", "DR_RUN_ID=2")
    assert doc["run_id"] == 2 and doc["backend"] == "containers" and doc["network"] == "sagemaker-local"
    roles = [(c["role"], c["worker"]) for c in doc["containers"]]
    assert roles == [("trainer", 0), ("robomaker", 1), ("robomaker", 2), ("robomaker", 3)]
    keys = {
        "name",
        "role",
        "worker",
        "image",
        "command",
        "environment",
        "ports",
        "gpu",
        "device_ids",
        "mounts",
        "labels",
    }
    assert all(keys <= set(c) for c in doc["containers"])
    secret = (home[0] / "creds").read_text().split("aws_secret_access_key = ")[1].split()[0]
    assert secret not in json.dumps(doc)
    assert all(c["environment"]["AWS_SECRET_ACCESS_KEY"] == "********" for c in doc["containers"])
    trainer, *workers = doc["containers"]
    assert trainer["command"] == "train" and trainer["environment"]["SAGEMAKER_PROGRAM"] == "sage-train.sh"
    assert [w["ports"]["8080"] for w in workers] == [8082, 9082, 10082]
    assert [w["environment"]["DOCKER_REPLICA_SLOT"] for w in workers] == ["1", "2", "3"]
    assert all(w["command"].endswith("run.sh multi distributed_training.launch.py") for w in workers)
    assert all(c["labels"]["drfc.run-id"] == "2" and c["labels"]["drfc.kind"] == "training" for c in doc["containers"])
    assert "checks_not_run" in doc


def test_gpu_image_requests_devices(home: tuple[Path, dict[str, str]]) -> None:
    doc = plan(home, "--set", "DR_SIMAPP_VERSION=6.0.4-gpu", "--set", "DR_SAGEMAKER_CUDA_DEVICES=1")
    trainer = doc["containers"][0]
    assert trainer["gpu"] is True and trainer["device_ids"] == ["1"]
    assert trainer["environment"]["CUDA_VISIBLE_DEVICES"] == "1"
    cpu = plan(home)
    assert not any(c["gpu"] for c in cpu["containers"])


def test_single_worker_uses_run_mode(home: tuple[Path, dict[str, str]]) -> None:
    doc = plan(home)
    assert doc["containers"][1]["command"] == "/opt/ml/code/run.sh run distributed_training.launch.py"
