"""The YAML parameter files the Robomaker workers read from S3.

Same keys and quoting as DRfC (every scalar a single-quoted string, sorted keys,
``---`` start), built from typed settings rather than the process environment,
so DRfC's bugs do not come along: no ``!!bool`` tags, no values leaking from
one worker file into the next, and race-type blocks appear only for their race
type (DRfC left ``OBSTACLE_TYPE`` and ``PENALTY_SECONDS`` behind).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from drfc.config.model import Config
from drfc.config.schema import CarColor, RaceType, Settings


def text(value: Any) -> str:
    """A setting as the simapp expects it: booleans as True/False, everything else as written."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if hasattr(value, "value"):
        return str(value.value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """DRfC's YAML style: sorted keys, every scalar single-quoted, explicit document start, no aliases."""

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump(
        dict(data), Dumper=NoAliases, default_flow_style=False, default_style="'", explicit_start=True, sort_keys=True
    )


def object_positions(raw: str) -> list[str]:
    return [item.strip() for item in raw.strip().strip('"').split(";") if item.strip()]


def race_blocks(s: Settings) -> dict[str, Any]:
    """The object-avoidance or head-to-bot keys, only for that race type."""
    if s.race_type == RaceType.OBJECT_AVOIDANCE:
        block: dict[str, Any] = {
            "NUMBER_OF_OBSTACLES": text(s.oa_number_of_obstacles),
            "MIN_DISTANCE_BETWEEN_OBSTACLES": text(s.oa_min_distance_between_obstacles),
            "RANDOMIZE_OBSTACLE_LOCATIONS": text(s.oa_randomize_obstacle_locations),
            "IS_OBSTACLE_BOT_CAR": text(s.oa_is_obstacle_bot_car),
            "OBSTACLE_TYPE": s.oa_obstacle_type,
        }
        positions = object_positions(s.oa_object_positions)
        if positions:
            block["OBJECT_POSITIONS"] = positions
            block["NUMBER_OF_OBSTACLES"] = str(len(positions))
        return block
    if s.race_type == RaceType.HEAD_TO_BOT:
        return {
            "IS_LANE_CHANGE": text(s.h2b_is_lane_change),
            "LOWER_LANE_CHANGE_TIME": text(s.h2b_lower_lane_change_time),
            "UPPER_LANE_CHANGE_TIME": text(s.h2b_upper_lane_change_time),
            "LANE_CHANGE_DISTANCE": text(s.h2b_lane_change_distance),
            "NUMBER_OF_BOT_CARS": text(s.h2b_number_of_bot_cars),
            "MIN_DISTANCE_BETWEEN_BOT_CARS": text(s.h2b_min_distance_between_bot_cars),
            "RANDOMIZE_BOT_CAR_LOCATIONS": text(s.h2b_randomize_bot_car_locations),
            "BOT_CAR_SPEED": text(s.h2b_bot_car_speed),
            "PENALTY_SECONDS": text(s.h2b_bot_car_penalty),
        }
    return {}


def simulation_params(cfg: Config, car: Settings, job_type: str) -> dict[str, Any]:
    """The keys a training and an evaluation YAML share; ``car`` holds the worker's (or the run's) settings."""
    s = cfg.settings
    data: dict[str, Any] = {
        "AWS_REGION": s.aws_app_region,
        "JOB_TYPE": job_type,
        "KINESIS_VIDEO_STREAM_NAME": s.kinesis_stream_name,
        "ROBOMAKER_SIMULATION_JOB_ACCOUNT_ID": "Dummy",
        "RACE_TYPE": text(car.race_type),
        "WORLD_NAME": car.world_name,
        "ENABLE_DOMAIN_RANDOMIZATION": text(car.enable_domain_randomization),
        "CAMERA_MAIN_ENABLE": text(car.camera_main_enable),
        "CAMERA_SUB_ENABLE": text(car.camera_sub_enable),
        "ENABLE_EXTRA_KVS_OVERLAY": text(car.enable_extra_kvs_overlay),
        **race_blocks(car),
    }
    if cfg.s3_endpoint_containers:
        data["S3_ENDPOINT_URL"] = cfg.s3_endpoint_containers
    return data


def training_params(cfg: Config, worker: Settings, *, multi_config: bool) -> dict[str, Any]:
    """The training YAML for one worker's settings (DRfC `prepare-config.py` keys, §4.1)."""
    s = cfg.settings  # run-wide values
    prefix = s.local_s3_model_prefix
    bucket = s.local_s3_bucket
    data = simulation_params(cfg, worker, "TRAINING")
    data.update(
        {
            "METRICS_S3_BUCKET": bucket,
            "METRICS_S3_OBJECT_KEY": f"{s.local_s3_metrics_prefix}/TrainingMetrics.json",
            "MODEL_METADATA_FILE_S3_KEY": s.local_s3_model_metadata_key,
            "REWARD_FILE_S3_KEY": s.local_s3_reward_key,
            "NUM_WORKERS": text(s.workers),
            "SAGEMAKER_SHARED_S3_BUCKET": bucket,
            "SAGEMAKER_SHARED_S3_PREFIX": prefix,
            "SIMTRACE_S3_BUCKET": bucket,
            "SIMTRACE_S3_PREFIX": prefix,
            "TRAINING_JOB_ARN": "arn:Dummy",
            "BODY_SHELL_TYPE": worker.car_body_shell_type,
            "CAR_COLOR": text(worker.car_color),
            "CAR_NAME": s.car_name,
            "DISPLAY_NAME": s.display_name,
            "RACER_NAME": s.racer_name,
            "REVERSE_DIR": text(worker.train_reverse_direction),
            "ALTERNATE_DRIVING_DIRECTION": text(worker.train_alternate_driving_direction),
            "CHANGE_START_POSITION": text(worker.train_change_start_position),
            "ROUND_ROBIN_ADVANCE_DIST": text(worker.train_round_robin_advance_dist),
            "START_POSITION_OFFSET": text(worker.train_start_position_offset),
            "MIN_EVAL_TRIALS": text(s.train_min_eval_trials),
            "BEST_MODEL_METRIC": text(s.train_best_model_metric),
        }
    )
    if multi_config:
        data["MULTI_CONFIG"] = "True"
    return data


def params_file_name(base: str, worker: int | None) -> str:
    """``training_params.yaml`` or, per worker of a multi-config run, ``training_params_<n>.yaml``."""
    if worker is None:
        return base
    stem = base.split(".", 1)[0]
    return f"{stem}_{worker}.yaml"


def training_files(cfg: Config) -> dict[str, str]:
    """Every training YAML to put under the model prefix, by file name.

    Multi-config runs get one file per worker, plus the plain file (= worker 1)
    so tools that look for it find it.
    """
    base = cfg.settings.local_s3_training_params_file
    if not cfg.multi_config:
        return {base: dump_yaml(training_params(cfg, cfg.settings, multi_config=False))}
    files = {base: dump_yaml(training_params(cfg, cfg.settings, multi_config=True))}
    for worker in cfg.workers:
        files[params_file_name(base, worker.index)] = dump_yaml(
            training_params(cfg, worker.settings, multi_config=True)
        )
    return files


def multi_config_json(cfg: Config) -> str | None:
    """The ``MULTI_CONFIG`` value run.sh reads to give worker k its own YAML and world."""
    if not cfg.multi_config:
        return None
    base = cfg.settings.local_s3_training_params_file
    entries: Sequence[dict[str, str]] = [
        {"config_file": params_file_name(base, w.index), "world_name": w.settings.world_name} for w in cfg.workers
    ]
    return json.dumps({"multi_config": list(entries)})


def worker_yaml_name(cfg: Config, worker: int) -> str:
    base = cfg.settings.local_s3_training_params_file
    return params_file_name(base, worker) if cfg.multi_config else base


# --- evaluation ------------------------------------------------------------------------------------------

#: ``evaluation-<stamp>``: the UTC start of an evaluation, as DRfC writes it (YYYYmmddHHMMSS).
STAMP_FORMAT = "%Y%m%d%H%M%S"
#: The copy of the evaluation YAML kept next to each evaluation's simtrace, read back by `evaluation report`.
EVAL_RECORD_NAME = "evaluation_params.yaml"


@dataclass(frozen=True)
class EvaluationKeys:
    """Where one evaluation writes for one car; every key carries the stamp, so evaluations never overwrite."""

    bucket: str
    prefix: str
    metrics_prefix: str
    stamp: str

    @property
    def simtrace_prefix(self) -> str:
        return f"{self.prefix}/evaluation-{self.stamp}"

    @property
    def metrics_key(self) -> str:
        return f"{self.metrics_prefix}/evaluation/evaluation-{self.stamp}.json"

    @property
    def mp4_prefix(self) -> str:
        """DRfC used ``<prefix>/mp4`` for every evaluation, so each one overwrote the last one's videos."""
        return f"{self.prefix}/mp4/evaluation-{self.stamp}"

    @property
    def record_key(self) -> str:
        return f"{self.simtrace_prefix}/{EVAL_RECORD_NAME}"


def opponent_color(own: CarColor) -> str:
    """A colour that tells the opponent apart (DRfC forced Purple/Orange and ignored DR_CAR_COLOR)."""
    return "Purple" if own == CarColor.ORANGE else "Orange"


def evaluation_params(
    cfg: Config, own: EvaluationKeys, *, checkpoint: str, opponent: EvaluationKeys | None = None
) -> dict[str, Any]:
    """The evaluation YAML (DRfC `prepare-config.py` keys, §4.2) without DRfC's bugs.

    Car keys are lists: index 0 is the evaluated model, index 1 the opponent of a HEAD_TO_MODEL race.
    Fixed here: COLLISION_PENALTY comes from DR_EVAL_COLLISION_PENALTY; the opponent's MP4s, simtrace
    and metrics go under the opponent's own prefix with the same time-stamped shape as the model's;
    DR_CAR_COLOR is kept; MODEL_NAME is a copy of DISPLAY_NAME (no YAML alias).
    """
    s = cfg.settings
    head_to_model = s.race_type == RaceType.HEAD_TO_MODEL
    if head_to_model and opponent is None:
        raise ValueError("a HEAD_TO_MODEL evaluation needs the opponent's keys")
    cars = [own, opponent] if head_to_model and opponent is not None else [own]
    data = simulation_params(cfg, s, "EVALUATION")
    data.update(
        {
            "MODEL_S3_PREFIX": [c.prefix for c in cars],
            "MODEL_S3_BUCKET": [c.bucket for c in cars],
            "SIMTRACE_S3_BUCKET": [c.bucket for c in cars],
            "SIMTRACE_S3_PREFIX": [c.simtrace_prefix for c in cars],
            "METRICS_S3_BUCKET": [c.bucket for c in cars],
            "METRICS_S3_OBJECT_KEY": [c.metrics_key for c in cars],
            "MP4_S3_BUCKET": [c.bucket for c in cars] if s.eval_save_mp4 else [],
            "MP4_S3_OBJECT_PREFIX": [c.mp4_prefix for c in cars] if s.eval_save_mp4 else [],
            "EVAL_CHECKPOINT": checkpoint,
            "BODY_SHELL_TYPE": [s.car_body_shell_type],
            "CAR_COLOR": [text(s.car_color)],
            "DISPLAY_NAME": [s.display_name],
            "RACER_NAME": [s.racer_name],
            "NUMBER_OF_TRIALS": text(s.eval_number_of_trials),
            "RESET_BEHIND_DIST": text(s.eval_reset_behind_dist),
            "IS_CONTINUOUS": text(s.eval_is_continuous),
            "NUMBER_OF_RESETS": text(s.eval_max_resets),
            "OFF_TRACK_PENALTY": text(s.eval_off_track_penalty),
            "COLLISION_PENALTY": text(s.eval_collision_penalty),
            "REVERSE_DIR": text(s.eval_reverse_direction),
        }
    )
    if len(cars) > 1:
        data["BODY_SHELL_TYPE"].append(s.eval_opp_car_body_shell_type)
        data["CAR_COLOR"].append(opponent_color(s.car_color))
        data["DISPLAY_NAME"].append(s.eval_opp_display_name)
        data["RACER_NAME"].append(s.eval_opp_racer_name)
        data["MODEL_NAME"] = list(data["DISPLAY_NAME"])
        data["VIDEO_JOB_TYPE"] = "EVALUATION"
    return data
