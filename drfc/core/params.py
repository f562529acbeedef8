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
from typing import Any

import yaml

from drfc.config.model import Config
from drfc.config.schema import RaceType, Settings


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


def training_params(cfg: Config, worker: Settings, *, multi_config: bool) -> dict[str, Any]:
    """The training YAML for one worker's settings (DRfC `prepare-config.py` keys, §4.1)."""
    s = cfg.settings  # run-wide values
    prefix = s.local_s3_model_prefix
    bucket = s.local_s3_bucket
    data: dict[str, Any] = {
        "AWS_REGION": s.aws_app_region,
        "JOB_TYPE": "TRAINING",
        "KINESIS_VIDEO_STREAM_NAME": s.kinesis_stream_name,
        "METRICS_S3_BUCKET": bucket,
        "METRICS_S3_OBJECT_KEY": f"{s.local_s3_metrics_prefix}/TrainingMetrics.json",
        "MODEL_METADATA_FILE_S3_KEY": s.local_s3_model_metadata_key,
        "REWARD_FILE_S3_KEY": s.local_s3_reward_key,
        "ROBOMAKER_SIMULATION_JOB_ACCOUNT_ID": "Dummy",
        "NUM_WORKERS": text(s.workers),
        "SAGEMAKER_SHARED_S3_BUCKET": bucket,
        "SAGEMAKER_SHARED_S3_PREFIX": prefix,
        "SIMTRACE_S3_BUCKET": bucket,
        "SIMTRACE_S3_PREFIX": prefix,
        "TRAINING_JOB_ARN": "arn:Dummy",
        "BODY_SHELL_TYPE": worker.car_body_shell_type,
        "CAR_COLOR": text(worker.car_color),
        "CAR_NAME": s.car_name,
        "RACE_TYPE": text(worker.race_type),
        "WORLD_NAME": worker.world_name,
        "DISPLAY_NAME": s.display_name,
        "RACER_NAME": s.racer_name,
        "REVERSE_DIR": text(worker.train_reverse_direction),
        "ALTERNATE_DRIVING_DIRECTION": text(worker.train_alternate_driving_direction),
        "CHANGE_START_POSITION": text(worker.train_change_start_position),
        "ROUND_ROBIN_ADVANCE_DIST": text(worker.train_round_robin_advance_dist),
        "START_POSITION_OFFSET": text(worker.train_start_position_offset),
        "ENABLE_DOMAIN_RANDOMIZATION": text(worker.enable_domain_randomization),
        "MIN_EVAL_TRIALS": text(s.train_min_eval_trials),
        "CAMERA_MAIN_ENABLE": text(worker.camera_main_enable),
        "CAMERA_SUB_ENABLE": text(worker.camera_sub_enable),
        "BEST_MODEL_METRIC": text(s.train_best_model_metric),
        "ENABLE_EXTRA_KVS_OVERLAY": text(worker.enable_extra_kvs_overlay),
    }
    if cfg.s3_endpoint_containers:
        data["S3_ENDPOINT_URL"] = cfg.s3_endpoint_containers
    if multi_config:
        data["MULTI_CONFIG"] = "True"
    data.update(race_blocks(worker))
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
