"""The evaluation's S3 side against a real S3 server: checkpoint pre-flight, clone, rollback, report, links."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from drfc.adapters.s3 import S3Store
from drfc.config.load import LoadOptions, load_config
from drfc.config.model import Config
from drfc.core.evaluation import EvaluationRecipe
from drfc.core.evaluation_report import collect
from drfc.core.runs import StartOptions
from drfc.core.storage import S3Target
from drfc.errors import ConfigError, NotFoundError
from tests.support.model_prefix import ckpt_name, trained_model
from tests.support.s3server import S3Server

pytestmark = pytest.mark.s3

BUCKET = "bucket"
MODEL = "my-model"
CLONE = "my-model-E"
START = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
STAMP = "20250102030405"


class Steps:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def step(self, message: str) -> None:
        self.messages.append(message)


@pytest.fixture
def store(s3: S3Server, tmp_path: Path) -> Iterator[S3Store]:
    made = S3Store(S3Target(BUCKET, s3.endpoint_url, "us-east-1", None, "test store"), persist_checksums=False)
    made.ensure_bucket()
    yield made


def config(tmp_path: Path, **settings: str) -> Config:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    for name in ("system.env", "run.env"):
        (home / name).touch()
    overrides = {"DR_LOCAL_S3_MODEL_PREFIX": MODEL, "DR_LOCAL_S3_BUCKET": BUCKET, **settings}
    return load_config(LoadOptions(home=home, overrides=overrides, purpose="evaluation"), environ={})


def put(store: S3Store, objects: dict[str, bytes]) -> None:
    for key, data in objects.items():
        store.put_bytes(key, data)


def snapshot(store: S3Store, prefix: str = "") -> dict[str, bytes]:
    return {o.key: store.get_bytes(o.key) for o in store.list(prefix)}


def recipe(cfg: Config, **options: Any) -> EvaluationRecipe:
    return EvaluationRecipe(cfg, None, {}, clock=lambda: START, **options)


def test_no_checkpoint_fails_before_anything_is_written(store: S3Store, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"deepracer_checkpoints\.json does not exist"):
        recipe(config(tmp_path)).preflight(store, Steps(), StartOptions())  # type: ignore[arg-type]
    assert snapshot(store) == {}


def test_every_file_of_the_chosen_checkpoint_is_required(store: S3Store, tmp_path: Path) -> None:
    objects = trained_model(MODEL, checkpoints=(1, 2, 3), best=2)
    del objects[f"{MODEL}/model/{ckpt_name(3)}.data-00000-of-00001"]
    put(store, objects)
    last = recipe(config(tmp_path), checkpoint="last")
    with pytest.raises(NotFoundError) as failure:
        last.preflight(store, Steps(), StartOptions())  # type: ignore[arg-type]
    assert f"{ckpt_name(3)}.data-00000-of-00001" in failure.value.message and "--checkpoint" in str(failure.value.hint)
    best = recipe(config(tmp_path), checkpoint="best")
    best.preflight(store, Steps(), StartOptions())  # type: ignore[arg-type]
    assert best.checkpoint_name == ckpt_name(2)
    store.delete_keys([f"{MODEL}/model/model_metadata.json"])
    with pytest.raises(NotFoundError, match=r"model_metadata\.json"):
        best.preflight(store, Steps(), StartOptions())  # type: ignore[arg-type]


def test_head_to_model_needs_the_opponent_checkpoint(store: S3Store, tmp_path: Path) -> None:
    put(store, trained_model(MODEL))
    cfg = config(tmp_path, DR_RACE_TYPE="HEAD_TO_MODEL", DR_EVAL_OPP_S3_MODEL_PREFIX="rival")
    with pytest.raises(NotFoundError, match="the opponent rival has no checkpoint"):
        recipe(cfg).preflight(store, Steps(), StartOptions())  # type: ignore[arg-type]
    put(store, trained_model("rival"))
    recipe(cfg).preflight(store, Steps(), StartOptions())  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as itself:
        config(tmp_path, DR_RACE_TYPE="HEAD_TO_MODEL", DR_EVAL_OPP_S3_MODEL_PREFIX=MODEL)
    assert "the opponent is the model being evaluated" in " ".join(itself.value.problems)
    put(store, trained_model(CLONE))
    cloned = config(tmp_path, DR_RACE_TYPE="HEAD_TO_MODEL", DR_EVAL_OPP_S3_MODEL_PREFIX=CLONE)
    with pytest.raises(ConfigError, match="is the evaluated model"):
        recipe(cloned, clone=True).preflight(store, Steps(), StartOptions())  # type: ignore[arg-type]


def test_clone_copies_and_rollback_removes_it_leaving_the_model_untouched(store: S3Store, tmp_path: Path) -> None:
    put(store, trained_model(MODEL, checkpoints=(1, 2, 3), best=2))
    store.put_bytes(f"{MODEL}/model/.lock", b"")  # a checkpoint upload in progress
    original = snapshot(store, MODEL)
    steps = Steps()
    start = recipe(config(tmp_path, DR_EVAL_SAVE_MP4="True"), clone=True)
    start.preflight(store, steps, StartOptions())  # type: ignore[arg-type]
    plan = start.plan(store)
    written = start.publish(store, plan)
    assert any("cloning" in m and CLONE in m for m in steps.messages)
    assert written == [f"{CLONE}/evaluation_params.yaml", f"{CLONE}/evaluation-{STAMP}/evaluation_params.yaml"]
    clone = snapshot(store, CLONE)
    copied = {k: v for k, v in original.items() if k.startswith((f"{MODEL}/model/", f"{MODEL}/ip/"))}
    assert {k.replace(MODEL, CLONE, 1): v for k, v in copied.items() if not k.endswith("/.lock")} == {
        k: v for k, v in clone.items() if "/evaluation" not in k
    }
    params = clone[f"{CLONE}/evaluation_params.yaml"].decode()
    assert f"- '{CLONE}/metrics/evaluation/evaluation-{STAMP}.json'" in params
    assert f"- '{CLONE}/mp4/evaluation-{STAMP}'" in params
    assert snapshot(store, MODEL) == original  # nothing of the model was touched
    start.rollback(store, written)
    assert snapshot(store, CLONE) == {} and snapshot(store, MODEL) == original


def test_rollback_restores_the_previous_yaml(store: S3Store, tmp_path: Path) -> None:
    put(store, trained_model(MODEL))
    store.put_bytes(f"{MODEL}/evaluation_params.yaml", b"--- earlier evaluation\n")
    start = recipe(config(tmp_path))
    start.preflight(store, Steps(), StartOptions())  # type: ignore[arg-type]
    written = start.publish(store, start.plan(store))
    assert store.get_bytes(f"{MODEL}/evaluation_params.yaml") != b"--- earlier evaluation\n"
    start.rollback(store, written)
    assert store.get_bytes(f"{MODEL}/evaluation_params.yaml") == b"--- earlier evaluation\n"
    assert not store.exists(f"{MODEL}/evaluation-{STAMP}/evaluation_params.yaml")


def test_a_stamp_in_use_moves_to_the_next_second(store: S3Store, tmp_path: Path) -> None:
    put(store, trained_model(MODEL))
    store.put_bytes(f"{MODEL}/metrics/evaluation/evaluation-{STAMP}.json", b'{"metrics": []}')
    store.put_bytes(f"{MODEL}/evaluation-20250102030406/evaluation-simtrace/0-iteration.csv", b"x")
    start = recipe(config(tmp_path))
    start.plan(store)
    assert start.stamp == "20250102030407"


def metrics(*laps: tuple[int, int, str]) -> bytes:
    records = [
        {
            "completion_percentage": progress,
            "elapsed_time_in_milliseconds": ms,
            "episode_status": status,
            "crash_count": 0,
            "off_track_count": 0,
            "reset_count": 0,
            "trial": n,
        }
        for n, (ms, progress, status) in enumerate(laps, 1)
    ]
    return json.dumps({"metrics": records}).encode()


RECORD = b"---\n'NUMBER_OF_TRIALS': '3'\n'RACE_TYPE': 'TIME_TRIAL'\n"


def test_report_finds_evaluations_of_the_model_and_its_clone(store: S3Store, tmp_path: Path) -> None:
    older, newer = "20250101000000", "20250102000000"
    put(
        store,
        {
            f"{MODEL}/metrics/evaluation/evaluation-{older}.json": metrics((11000, 100, "Lap complete")),
            f"{MODEL}/evaluation-{older}/evaluation-simtrace/0-iteration.csv": b"episode,steps\n",
            f"{CLONE}/metrics/evaluation/evaluation-{newer}.json": metrics(
                (12000, 100, "Lap complete"), (3000, 40, "Off track")
            ),
            f"{CLONE}/evaluation-{newer}/evaluation_params.yaml": RECORD,
            f"{CLONE}/mp4/evaluation-{newer}/camera-pip/0-video.mp4": b"\x00\x00\x00\x18ftypmp42",
            f"{CLONE}/mp4/evaluation-{older}/camera-pip/0-video.mp4": b"another evaluation's video",
        },
    )
    cfg = config(tmp_path)
    (latest,) = collect(cfg, store)
    assert latest.stamp == newer and latest.model_prefix == CLONE and latest.state == "unfinished"  # 2 of 3
    assert [t.trial for t in latest.trials] == [1, 2] and latest.summary.best_lap == 12.0
    assert [v.key for v in latest.videos] == [f"{CLONE}/mp4/evaluation-{newer}/camera-pip/0-video.mp4"]
    assert latest.videos[0].camera == "camera-pip" and latest.videos[0].url is None
    both = collect(cfg, store, everything=True, presign=lambda key: store.presign(key, expires=60))
    assert [(e.stamp, e.model_prefix) for e in both] == [(older, MODEL), (newer, CLONE)]
    assert both[0].state == "finished" and both[0].videos == []  # the clone's video of that stamp is not its
    url = both[1].videos[0].url
    assert url and url.startswith(f"{store.target.endpoint_url}/{BUCKET}/{CLONE}/mp4/") and "X-Amz-Expires=60" in url
    with urllib.request.urlopen(url, timeout=10) as response:  # the link works without credentials
        assert response.read() == b"\x00\x00\x00\x18ftypmp42"


def test_presign_refuses_lifetimes_beyond_seven_days(store: S3Store) -> None:
    from drfc.errors import S3Error

    with pytest.raises(S3Error, match="7 days"):
        store.presign("k", expires=8 * 24 * 3600)
