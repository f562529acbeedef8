"""`drfc start-training` / `stop-training` on the real engine (containers backend) with the stand-ins.

The home is the README's default: `drfc init --cpu`, local MinIO (the stand-in image), nothing
uploaded yet. `start-training` must start the store, upload the custom files, start the trainer and
the workers; the simapp stand-in then trains a few iterations for real.
"""

from __future__ import annotations

import json
import time
from typing import Any

import docker
import pytest
from tests.support.drfc_home import Home, labelled_leftovers, run_units, wait_for_key

pytestmark = pytest.mark.docker

PREFIX = "rl-deepracer-sagemaker"


def small_run(home: Home, workers: int) -> None:
    home.ok("config", "set", f"DR_WORKERS={workers}")
    path = home.path / "custom_files" / "hyperparameters.json"
    data = json.loads(path.read_text())
    data.update(term_cond_max_episodes=3, num_episodes_between_training=4)
    path.write_text(json.dumps(data, indent=2))


def run_containers(client: docker.DockerClient, run_id: int = 0) -> list[Any]:
    return client.containers.list(all=True, filters={"label": ["drfc.kind=training", f"drfc.run-id={run_id}"]})


def wait_trainer_exit(client: docker.DockerClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trainers = [c for c in run_containers(client) if c.labels.get("drfc.role") == "trainer"]
        if trainers and all(c.status == "exited" for c in trainers):
            return
        time.sleep(0.5)
    raise AssertionError("the trainer did not exit")


@pytest.mark.parametrize("workers", [1, 3])
def test_start_trains_and_stop_leaves_nothing(run_home: Home, docker_client: docker.DockerClient, workers: int) -> None:
    home = run_home
    small_run(home, workers)
    started = home.run("start-training", "--follow", "none", "--json")
    assert started.exit_code == 0, started.stderr
    assert "starting the local store" in started.stderr and "uploading custom_files" in started.stderr
    plan = json.loads(started.stdout)
    assert plan["backend"] == home.backend
    assert [c["role"] for c in plan["containers"]] == ["trainer"] + ["robomaker"] * workers

    units = {u["name"]: u for u in run_units(docker_client, home.backend)}
    assert set(units) == {c["name"] for c in plan["containers"]}
    for planned in plan["containers"]:
        unit = units[planned["name"]]
        for key, value in planned["environment"].items():
            if value != "********":
                assert unit["env"][key] == value, key
        assert {k: v for k, v in unit["labels"].items() if k in planned["labels"]} == planned["labels"]
        if planned["role"] == "robomaker":
            assert unit["ports"]["8080"] == planned["ports"]["8080"]
            assert unit["init"] is True

    s3 = home.s3()
    wait_for_key(s3, f"{PREFIX}/ip/ip.json")
    wait_for_key(s3, f"{PREFIX}/model/.finished")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="bucket", Prefix=PREFIX)["Contents"]}
    assert f"{PREFIX}/model/model_3.pb" in keys  # the checkpoints advanced to the last iteration
    assert f"{PREFIX}/training_params.yaml" in keys and f"{PREFIX}/reward_function.py" in keys
    metrics = {f"{PREFIX}/metrics/TrainingMetrics.json"} | {
        f"{PREFIX}/metrics/TrainingMetrics_{k}.json" for k in range(1, workers)
    }
    assert metrics <= keys  # every worker wrote its metrics

    stopped = home.json("stop-training")
    assert {u["name"] for u in stopped["stopped"]} == {c["name"] for c in plan["containers"]}
    assert labelled_leftovers(docker_client) == []
    again = home.ok("stop-training")
    assert "has no training running" in again.stderr


def test_refusals_before_anything_is_created(run_home: Home, docker_client: docker.DockerClient) -> None:
    home = run_home
    small_run(home, 1)
    home.ok("start-training", "--follow", "none")
    second = home.run("start-training", "--follow", "none")
    assert second.exit_code == 5 and "already has" in second.stderr  # the same run id is taken
    home.ok("stop-training")
    exists = home.run("start-training", "--follow", "none")
    assert exists.exit_code == 5 and "--wipe" in exists.stderr  # the model prefix holds a model
    assert labelled_leftovers(docker_client) == []
    gpu = home.run("--set", "DR_SIMAPP_VERSION=6.0.4-gpu", "start-training", "-w", "-f")
    assert gpu.exit_code == 13 and "nvidia" in gpu.stderr.lower()
    assert labelled_leftovers(docker_client) == []


def test_logs_are_found_by_label(run_home: Home, docker_client: docker.DockerClient) -> None:
    home = run_home
    small_run(home, 2)
    home.ok("start-training", "--follow", "none")
    wait_for_key(home.s3(), f"{PREFIX}/model/.finished")
    wait_trainer_exit(docker_client)  # it logs its last lines after writing .finished
    trainer = home.ok("logs", "sagemaker", "-a").stdout
    assert "Invoking user script" in trainer and "Reporting training SUCCESS" in trainer
    second = home.ok("logs", "robomaker", "-n", "2", "--all").stdout
    assert "Using ROS_DOMAIN_ID=1 for worker 1" in second  # worker 2 has rollout index 1
    missing = home.run("logs", "robomaker", "-n", "7")
    assert (
        missing.exit_code == 6 and "no Robomaker worker 7" in missing.stderr and "drfc-0-robomaker-1" in missing.stderr
    )
    home.ok("stop-training")
    gone = home.run("logs", "sagemaker")
    assert gone.exit_code == 6 and "drfc start-training" in gone.stderr


def test_status_reads_progress_and_reports_failures(run_home: Home, docker_client: docker.DockerClient) -> None:
    home = run_home
    small_run(home, 2)
    home.ok("start-training", "--follow", "none")
    wait_for_key(home.s3(), f"{PREFIX}/model/.finished")
    deadline = time.monotonic() + 60
    while True:  # a worker may write its last metrics just after the trainer wrote .finished
        run = next(r for r in home.json("status")["runs"] if r["run_id"] == 0)
        progress = run["progress"]
        episodes = sum(w["episodes"] for w in progress["workers"])
        if episodes == 3 * 4 or time.monotonic() > deadline:  # iterations x episodes per iteration
            break
        time.sleep(0.5)
    assert episodes == 3 * 4 and len(progress["workers"]) == 2
    assert run["model_prefix"] == PREFIX and run["failures"] == []
    assert {c["role"] for c in run["containers"]} == {"trainer", "robomaker"}
    assert progress["iteration"] == 3 and progress["finished"] is True
    assert run["backend"] == home.backend
    home.ok("stop-training")
    if home.backend == "swarm":
        return  # the injected container below is a plain one, which the Swarm backend does not list

    # A trainer that logs a simapp exception and still exits 0, as the real one often does.
    line = '{"simapp_exception": {"message": "Model metadata does not exist", "errorCode": "400"}}'
    docker_client.containers.run(
        "drfc-standin/base:latest",
        ["sh", "-c", f"echo '{line}'; echo 'ERROR: FAULT_CODE: 0'"],
        detach=True,
        labels={
            "drfc.managed": "true",
            "drfc.kind": "training",
            "drfc.role": "trainer",
            "drfc.run-id": "7",
            "drfc.worker": "0",
            "drfc.model-prefix": "broken-model",
            "drfc.home": "/elsewhere",
        },
    ).wait(timeout=30)
    failed = home.run("status", "--json")
    assert failed.exit_code == 30
    broken = next(r for r in json.loads(failed.stdout)["runs"] if r["run_id"] == 7)
    assert broken["failures"] == ["the trainer reported: Model metadata does not exist (error code 400)"]
    assert broken["progress"] is None  # another home's bucket is not read
    text = home.run("status")
    assert text.exit_code == 30 and "Model metadata does not exist" in text.stderr
