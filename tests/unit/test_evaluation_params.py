"""The evaluation YAML, key by key against drfc-behaviour.md §4.2 with DRfC's bugs fixed, and the plan around it."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml
from drfc.config.load import LoadOptions, load_config
from drfc.config.model import Config
from drfc.core.evaluation import (
    EvaluationRecipe,
    clone_prefix,
    describe_start,
    evaluation_keys,
    metrics_prefix_for,
    plan_evaluation,
)
from drfc.core.params import dump_yaml, evaluation_params

STAMP = "20250102030405"
#: Every value differs from its default, so a key read from the wrong variable shows.
RUN = {
    "DR_LOCAL_S3_MODEL_PREFIX": "my-model",
    "DR_LOCAL_S3_BUCKET": "my-bucket",
    "DR_AWS_APP_REGION": "eu-west-1",
    "DR_KINESIS_STREAM_NAME": "kvs-1",
    "DR_CAR_NAME": "Zoom",
    "DR_DISPLAY_NAME": "Zoomer",
    "DR_RACER_NAME": "racer-z",
    "DR_CAR_COLOR": "Blue",
    "DR_CAR_BODY_SHELL_TYPE": "f1_2021",
    "DR_WORLD_NAME": "2022_april_open",
    "DR_EVAL_NUMBER_OF_TRIALS": "4",
    "DR_ENABLE_DOMAIN_RANDOMIZATION": "True",
    "DR_EVAL_RESET_BEHIND_DIST": "0.5",
    "DR_EVAL_IS_CONTINUOUS": "False",
    "DR_EVAL_MAX_RESETS": "7",
    "DR_EVAL_OFF_TRACK_PENALTY": "3.5",
    "DR_EVAL_COLLISION_PENALTY": "8.25",
    "DR_CAMERA_MAIN_ENABLE": "False",
    "DR_CAMERA_SUB_ENABLE": "True",
    "DR_ENABLE_EXTRA_KVS_OVERLAY": "True",
    "DR_EVAL_REVERSE_DIRECTION": "True",
    "DR_EVAL_OPP_S3_MODEL_PREFIX": "rival",
    "DR_EVAL_OPP_CAR_BODY_SHELL_TYPE": "deepracer",
    "DR_EVAL_OPP_CAR_NAME": "Rivalry",
    "DR_EVAL_OPP_DISPLAY_NAME": "Rival",
    "DR_EVAL_OPP_RACER_NAME": "rival-r",
    "DR_OA_NUMBER_OF_OBSTACLES": "4",
    "DR_OA_MIN_DISTANCE_BETWEEN_OBSTACLES": "2.5",
    "DR_OA_RANDOMIZE_OBSTACLE_LOCATIONS": "True",
    "DR_OA_IS_OBSTACLE_BOT_CAR": "True",
    "DR_OA_OBSTACLE_TYPE": "deepracer_box_obstacle",
    "DR_H2B_IS_LANE_CHANGE": "True",
    "DR_H2B_LOWER_LANE_CHANGE_TIME": "2.0",
    "DR_H2B_UPPER_LANE_CHANGE_TIME": "4.0",
    "DR_H2B_LANE_CHANGE_DISTANCE": "1.5",
    "DR_H2B_NUMBER_OF_BOT_CARS": "2",
    "DR_H2B_MIN_DISTANCE_BETWEEN_BOT_CARS": "3.0",
    "DR_H2B_RANDOMIZE_BOT_CAR_LOCATIONS": "True",
    "DR_H2B_BOT_CAR_SPEED": "0.4",
    "DR_H2B_BOT_CAR_PENALTY": "6.0",
}
RACE_TYPES = ("TIME_TRIAL", "OBJECT_AVOIDANCE", "HEAD_TO_BOT", "HEAD_TO_MODEL")


def config(tmp_path: Path, **extra: str) -> Config:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    for name in ("system.env", "run.env"):
        (home / name).touch()
    overrides = {**RUN, **{k if k.startswith("DR_") else f"DR_{k.upper()}": v for k, v in extra.items()}}
    return load_config(LoadOptions(home=home, overrides=overrides, purpose="evaluation"), environ={})


def expected(race: str, *, mp4: bool, cloud: str, prefix: str = "my-model", opp_metrics: str | None = None) -> dict:
    """§4.2 written out for the settings in RUN, with the fixes drfc makes (see evaluation_params)."""
    bucket = "my-bucket"
    metrics = "my-model/metrics" if prefix == "my-model" else f"{prefix}/metrics"
    own = {
        "prefix": prefix,
        "simtrace": f"{prefix}/evaluation-{STAMP}",
        "metrics": f"{metrics}/evaluation/evaluation-{STAMP}.json",
        "mp4": f"{prefix}/mp4/evaluation-{STAMP}",
    }
    cars = [own]
    if race == "HEAD_TO_MODEL":
        cars.append(
            {
                "prefix": "rival",
                "simtrace": f"rival/evaluation-{STAMP}",  # DRfC: the opponent's root, not time-stamped
                "metrics": f"{opp_metrics or 'rival/metrics'}/evaluation/evaluation-{STAMP}.json",  # DRfC: unix secs
                "mp4": f"rival/mp4/evaluation-{STAMP}",  # DRfC: 'bucket/mp4' from an undefined variable
            }
        )
    doc: dict[str, Any] = {
        "AWS_REGION": "eu-west-1",
        "JOB_TYPE": "EVALUATION",
        "KINESIS_VIDEO_STREAM_NAME": "kvs-1",
        "ROBOMAKER_SIMULATION_JOB_ACCOUNT_ID": "Dummy",
        "MODEL_S3_PREFIX": [c["prefix"] for c in cars],
        "MODEL_S3_BUCKET": [bucket] * len(cars),
        "SIMTRACE_S3_BUCKET": [bucket] * len(cars),
        "SIMTRACE_S3_PREFIX": [c["simtrace"] for c in cars],
        "METRICS_S3_BUCKET": [bucket] * len(cars),
        "METRICS_S3_OBJECT_KEY": [c["metrics"] for c in cars],
        "MP4_S3_BUCKET": [bucket] * len(cars) if mp4 else [],
        "MP4_S3_OBJECT_PREFIX": [c["mp4"] for c in cars] if mp4 else [],
        "EVAL_CHECKPOINT": "best",
        "BODY_SHELL_TYPE": ["f1_2021"],
        "CAR_COLOR": ["Blue"],  # DRfC forced Purple for the model in HEAD_TO_MODEL
        "DISPLAY_NAME": ["Zoomer"],
        "RACER_NAME": ["racer-z"],
        "RACE_TYPE": race,
        "WORLD_NAME": "2022_april_open",
        "NUMBER_OF_TRIALS": "4",
        "ENABLE_DOMAIN_RANDOMIZATION": "True",
        "RESET_BEHIND_DIST": "0.5",
        "IS_CONTINUOUS": "False",
        "NUMBER_OF_RESETS": "7",
        "OFF_TRACK_PENALTY": "3.5",
        "COLLISION_PENALTY": "8.25",  # DRfC read DR_COLLISION_PENALTY and always wrote its 5.0 fallback
        "CAMERA_MAIN_ENABLE": "False",
        "CAMERA_SUB_ENABLE": "True",
        "ENABLE_EXTRA_KVS_OVERLAY": "True",
        "REVERSE_DIR": "True",
    }
    if cloud != "aws":
        doc["S3_ENDPOINT_URL"] = "http://minio:9000"
    if race == "HEAD_TO_MODEL":
        doc["BODY_SHELL_TYPE"].append("deepracer")
        doc["CAR_COLOR"].append("Orange")
        doc["DISPLAY_NAME"].append("Rival")
        doc["RACER_NAME"].append("rival-r")
        doc["MODEL_NAME"] = ["Zoomer", "Rival"]
        doc["VIDEO_JOB_TYPE"] = "EVALUATION"
    if race == "OBJECT_AVOIDANCE":
        doc.update(
            NUMBER_OF_OBSTACLES="4",
            MIN_DISTANCE_BETWEEN_OBSTACLES="2.5",
            RANDOMIZE_OBSTACLE_LOCATIONS="True",
            IS_OBSTACLE_BOT_CAR="True",
            OBSTACLE_TYPE="deepracer_box_obstacle",
        )
    if race == "HEAD_TO_BOT":
        doc.update(
            IS_LANE_CHANGE="True",
            LOWER_LANE_CHANGE_TIME="2.0",
            UPPER_LANE_CHANGE_TIME="4.0",
            LANE_CHANGE_DISTANCE="1.5",
            NUMBER_OF_BOT_CARS="2",
            MIN_DISTANCE_BETWEEN_BOT_CARS="3.0",
            RANDOMIZE_BOT_CAR_LOCATIONS="True",
            BOT_CAR_SPEED="0.4",
            PENALTY_SECONDS="6.0",
        )
    return doc


def generated(cfg: Config, prefix: str | None = None, checkpoint: str = "best") -> tuple[dict, str]:
    keys = evaluation_keys(cfg, prefix or cfg.settings.local_s3_model_prefix, STAMP)
    data = evaluation_params(cfg, keys[0], checkpoint=checkpoint, opponent=keys[1] if len(keys) > 1 else None)
    return data, dump_yaml(data)


COMBINATIONS = list(itertools.product(RACE_TYPES, (False, True), ("local", "aws")))


@pytest.mark.parametrize(("race", "mp4", "cloud"), COMBINATIONS)
def test_every_race_type_and_option_key_by_key(tmp_path: Path, race: str, mp4: bool, cloud: str) -> None:
    cfg = config(tmp_path, race_type=race, eval_save_mp4=str(mp4), cloud=cloud)
    data, text = generated(cfg)
    want = expected(race, mp4=mp4, cloud=cloud)
    assert sorted(data) == sorted(want)
    for key in want:
        assert data[key] == want[key], key
    assert yaml.safe_load(text) == want  # the file the simapp reads says the same
    assert text.startswith("---\n")
    assert "&id" not in text and "*id" not in text  # DRfC's MODEL_NAME alias of DISPLAY_NAME
    for line in text.splitlines()[1:]:  # every key and scalar single-quoted, so markov sees strings
        assert line.startswith(("'", "- '")) or line.endswith(": []"), line


def test_lists_align_per_car(tmp_path: Path) -> None:
    """The simapp requires every car key to have one entry per car (1, or 2 for HEAD_TO_MODEL)."""
    for race, cars in (("TIME_TRIAL", 1), ("HEAD_TO_MODEL", 2)):
        data, _ = generated(config(tmp_path, race_type=race, eval_save_mp4="True"))
        lists = {k: len(v) for k, v in data.items() if isinstance(v, list)}
        assert set(lists.values()) == {cars}, lists


def test_object_positions_set_the_obstacle_count(tmp_path: Path) -> None:
    cfg = config(tmp_path, race_type="OBJECT_AVOIDANCE", oa_object_positions='"0.2,1;0.5,-1;0.8,1"')
    data, _ = generated(cfg)
    assert data["OBJECT_POSITIONS"] == ["0.2,1", "0.5,-1", "0.8,1"]
    assert data["NUMBER_OF_OBSTACLES"] == "3"


def test_opponent_metrics_prefix_and_colour(tmp_path: Path) -> None:
    cfg = config(tmp_path, race_type="HEAD_TO_MODEL", eval_opp_s3_metrics_prefix="rival-metrics", car_color="Orange")
    data, _ = generated(cfg)
    assert data["METRICS_S3_OBJECT_KEY"][1] == f"rival-metrics/evaluation/evaluation-{STAMP}.json"
    assert data["CAR_COLOR"] == ["Orange", "Purple"]  # the opponent never looks like the model


@pytest.mark.parametrize("checkpoint", ["best", "last"])
def test_checkpoint_choice(tmp_path: Path, checkpoint: str) -> None:
    data, _ = generated(config(tmp_path), checkpoint=checkpoint)
    assert data["EVAL_CHECKPOINT"] == checkpoint


def test_consecutive_evaluations_write_different_keys(tmp_path: Path) -> None:
    cfg = config(tmp_path, eval_save_mp4="True")
    first, second = (evaluation_keys(cfg, "my-model", stamp)[0] for stamp in (STAMP, "20250102030406"))
    for attribute in ("metrics_key", "simtrace_prefix", "mp4_prefix", "record_key"):
        assert getattr(first, attribute) != getattr(second, attribute)


def test_clone_writes_under_the_clone_only(tmp_path: Path) -> None:
    cfg = config(tmp_path, eval_save_mp4="True")
    clone = clone_prefix("my-model")
    assert clone == "my-model-E"
    data, _ = generated(cfg, prefix=clone)
    assert data == expected("TIME_TRIAL", mp4=True, cloud="local", prefix=clone)
    written = [v for k, v in data.items() if k.endswith(("PREFIX", "OBJECT_KEY"))]
    assert all(item.startswith(f"{clone}/") or item == clone for values in written for item in values)


def test_metrics_prefix_follows_the_clone_only_inside_the_model(tmp_path: Path) -> None:
    inside = config(tmp_path, local_s3_metrics_prefix="my-model/stats")
    assert metrics_prefix_for(inside, "my-model") == "my-model/stats"
    assert metrics_prefix_for(inside, "my-model-E") == "my-model-E/stats"
    outside = config(tmp_path, local_s3_metrics_prefix="all-metrics/my-model")
    assert metrics_prefix_for(outside, "my-model-E") == "all-metrics/my-model"


def test_plan_has_one_robomaker_on_the_evaluation_port(tmp_path: Path) -> None:
    cfg = config(tmp_path, run_id="3", eval_rtf="2.5", eval_debug_reward="True")
    plan = plan_evaluation(cfg, prefix="my-model-E", stamp=STAMP, checkpoint="last", credentials=None)
    assert plan.kind == "evaluation" and plan.model_prefix == "my-model-E"
    (spec,) = plan.containers
    assert spec.command == ("/opt/ml/code/run.sh run evaluation.launch.py",)
    assert [(p.container, p.host) for p in spec.ports] == [(8080, 8183)]
    assert spec.init is True
    assert spec.labels["drfc.kind"] == "evaluation" and spec.labels["drfc.role"] == "robomaker"
    assert spec.labels["drfc.worker"] == "1" and spec.labels["drfc.run-id"] == "3"
    assert spec.labels["drfc.model-prefix"] == "my-model-E"
    assert spec.labels["drfc.metrics-key"] == f"my-model-E/metrics/evaluation/evaluation-{STAMP}.json"
    env = spec.environment
    assert env["MODEL_S3_PREFIX"] == "my-model-E" and env["MODEL_S3_BUCKET"] == "my-bucket"
    assert env["S3_YAML_NAME"] == "evaluation_params.yaml" and env["WORLD_NAME"] == "2022_april_open"
    assert env["ROLLOUT_IDX"] == "0" and env["RTF_OVERRIDE"] == "2.5" and env["DEBUG_REWARD"] == "True"
    assert env["APP_REGION"] == "eu-west-1" and env["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "SAGEMAKER_SHARED_S3_PREFIX" not in env
    files = dict(plan.s3_files)
    assert set(files) == {"evaluation_params.yaml", f"evaluation-{STAMP}/evaluation_params.yaml"}
    assert len(set(files.values())) == 1  # the record is the very file the simapp read


def test_start_document_names_the_record_of_the_evaluated_prefix(tmp_path: Path) -> None:
    recipe = EvaluationRecipe(config(tmp_path), None, {}, clone=True)
    assert describe_start(recipe)["record"] is None  # no stamp before the plan is made
    recipe.stamp = STAMP
    started = describe_start(recipe)
    assert started["model_prefix"] == "my-model-E" and started["source_prefix"] == "my-model"
    assert started["record"] == f"my-model-E/evaluation-{STAMP}/evaluation_params.yaml"
