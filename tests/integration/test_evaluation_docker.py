"""`drfc start-evaluation` / `stop-evaluation` / `evaluation report` on the real engine with the stand-ins.

One lean scenario per backend: a model is trained by the stand-in; evaluating before a checkpoint
exists fails cleanly; a cloned evaluation runs beside the training and writes metrics, simtrace and
videos; the report shows its trials; a second clone leaves the original byte-identical and keeps the
first evaluation's keys; an evaluation stopped mid-run leaves nothing behind.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import docker
import pytest
from click.testing import Result
from tests.support.drfc_home import Home, labelled_leftovers, run_units, wait_for_key

pytestmark = pytest.mark.docker

PREFIX = "rl-deepracer-sagemaker"
CLONE = f"{PREFIX}-E"
TRIALS = 2
CAMERAS = ("camera-45degree", "camera-pip", "camera-topview")


def configure(home: Home, iterations: int) -> None:
    home.ok("config", "set", "DR_WORKERS=1", f"DR_EVAL_NUMBER_OF_TRIALS={TRIALS}", "DR_EVAL_SAVE_MP4=True")
    path = home.path / "custom_files" / "hyperparameters.json"
    data = json.loads(path.read_text())
    data.update(term_cond_max_episodes=iterations, num_episodes_between_training=2)
    path.write_text(json.dumps(data, indent=2))


def keys(s3: Any, prefix: str) -> set[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return {
        o["Key"] for page in paginator.paginate(Bucket="bucket", Prefix=f"{prefix}/") for o in page.get("Contents", [])
    }


def snapshot(s3: Any, prefix: str) -> dict[str, bytes]:
    return {key: s3.get_object(Bucket="bucket", Key=key)["Body"].read() for key in keys(s3, prefix)}


def wait_ended(home: Home, kind: str, timeout: float = 60) -> None:
    """Until every unit of the kind has ended (the stand-in's shutdown takes a few seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = [r for r in home.json("status")["runs"] if r["kind"] == kind and r["run_id"] == 0]
        if run and run[0]["containers"] and all(c["state"] != "running" for c in run[0]["containers"]):
            return
        time.sleep(1)
    raise AssertionError(f"the {kind} did not end")


def evaluation_finished(home: Home, s3: Any, start: dict[str, Any]) -> str:
    """Wait until the evaluation started with `start` uploaded its simtrace; returns its stamp."""
    stamp = start["evaluation"]["stamp"]
    prefix = start["evaluation"]["model_prefix"]
    wait_for_key(s3, f"{prefix}/evaluation-{stamp}/evaluation-simtrace/0-iteration.csv", timeout=120)
    return str(stamp)


def in_time(call: Callable[[], Result], timeout: float) -> Result:
    """Run a command that must return by itself, failing the test (not hanging it) when it does not."""
    done: list[Result | BaseException] = []

    def run() -> None:
        try:
            done.append(call())
        except BaseException as exc:  # an assertion about its result: raised again below
            done.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert done, f"the command did not return within {timeout:.0f}s"
    if isinstance(done[0], BaseException):
        raise done[0]
    return done[0]


def test_evaluation_lifecycle(run_home: Home, docker_client: docker.DockerClient) -> None:
    home = run_home
    configure(home, iterations=8)

    # No checkpoint yet: a precise error, and nothing created (neither units nor S3 objects).
    early = home.run("start-evaluation", "--no-follow")
    assert early.exit_code == 6 and "deepracer_checkpoints.json does not exist" in early.stderr, early.stderr
    assert labelled_leftovers(docker_client, "evaluation") == []
    s3 = home.s3()
    assert keys(s3, PREFIX) == set() and keys(s3, CLONE) == set()

    # Training runs; a cloned evaluation of the same run id runs beside it.
    home.ok("start-training", "--follow", "none")
    wait_for_key(s3, f"{PREFIX}/model/deepracer_checkpoints.json", timeout=120)
    first = home.json("start-evaluation", "--clone", "--no-follow")
    assert first["evaluation"]["model_prefix"] == CLONE and first["evaluation"]["checkpoint"] == "last"
    (evaluation,) = run_units(docker_client, home.backend, "evaluation")
    training = run_units(docker_client, home.backend, "training")
    assert {u["labels"]["drfc.role"] for u in training} == {"trainer", "robomaker"}
    assert evaluation["ports"]["8080"] == 8180 and evaluation["init"] is True
    assert evaluation["env"]["MODEL_S3_PREFIX"] == CLONE and evaluation["labels"]["drfc.kind"] == "evaluation"
    assert not keys(s3, f"{PREFIX}/model/.finished")  # the training was still running alongside

    stamp = evaluation_finished(home, s3, first)
    wait_ended(home, "evaluation")  # the videos are uploaded after the simtrace
    written = keys(s3, CLONE)
    assert f"{CLONE}/metrics/evaluation/evaluation-{stamp}.json" in written
    assert {f"{CLONE}/mp4/evaluation-{stamp}/{camera}/0-video.mp4" for camera in CAMERAS} <= written
    assert f"{CLONE}/evaluation-{stamp}/evaluation_params.yaml" in written
    log = home.ok("logs", "robomaker", "--eval", "--all").stdout
    assert "Evaluation job complete" in log
    status = home.run("status", "--json")
    assert status.exit_code == 0, status.stdout  # an evaluation that ended normally is no failure
    (ended,) = [r for r in json.loads(status.stdout)["runs"] if r["kind"] == "evaluation"]
    assert ended["evaluation"]["trials_done"] == TRIALS and ended["evaluation"]["trials"] == TRIALS

    report = home.json("evaluation", "report", "--presign")
    (latest,) = report["evaluations"]
    assert latest["stamp"] == stamp and latest["state"] == "finished" and latest["model_prefix"] == CLONE
    assert [t["trial"] for t in latest["trials"]] == list(range(1, TRIALS + 1))
    assert latest["summary"]["trials"] == TRIALS and latest["race_type"] == "TIME_TRIAL"
    assert sorted(v["camera"] for v in latest["videos"]) == list(CAMERAS) and all(v["url"] for v in latest["videos"])
    table = home.ok("evaluation", "report").stdout
    assert f"of {CLONE}: TIME_TRIAL" in table and "Lap time" in table and f"evaluation-{stamp}" in table

    # Once training is over: a second clone leaves the original byte-identical and keeps the first's keys.
    # This one follows its log (the default), which must end with the evaluation on both backends.
    wait_for_key(s3, f"{PREFIX}/model/.finished", timeout=120)
    home.ok("stop-training")
    original = snapshot(s3, PREFIX)
    followed = in_time(lambda: home.ok("start-evaluation", "-c", "--checkpoint", "best"), timeout=120)
    assert "Evaluation job complete" in followed.stdout and "the evaluation ended" in followed.stderr
    assert snapshot(s3, PREFIX) == original
    both = home.json("evaluation", "report", "--all")["evaluations"]
    assert len(both) == 2 and both[0]["stamp"] == stamp and both[1]["checkpoint"] == "best"
    assert all(len(e["trials"]) == TRIALS and e["state"] == "finished" for e in both)

    # Stopped mid-run (the model itself this time): nothing is left, and stopping again is fine.
    quiet = home.ok("--set", "DR_EVAL_NUMBER_OF_TRIALS=500", "start-evaluation", "-q")
    assert quiet.stdout == "" and "following" not in quiet.stderr
    busy = home.run("start-evaluation", "--no-follow")
    assert busy.exit_code == 5 and "already has an evaluation" in busy.stderr and "stop-evaluation" in busy.stderr
    stopped = home.json("stop-evaluation")
    assert [u["name"] for u in stopped["stopped"]] == ["drfc-0-eval-robomaker"]
    assert labelled_leftovers(docker_client, "evaluation") == []
    again = home.ok("stop-evaluation")
    assert "has no evaluation running" in again.stderr
