"""evaluation.launch.py: evaluate a model's best or last checkpoint for NUMBER_OF_TRIALS trials.

Side effect like the real one: ``model/.coach_checkpoint`` of the evaluated prefix is rewritten
to the chosen checkpoint. Metrics are rewritten after every trial; the simtrace (and MP4s when
MP4_S3_BUCKET is set) are uploaded once at the end.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from simapp_standin import telegraf
from simapp_standin.common import GAP, SimappError, Store, episode_seconds, log, truthy
from simapp_standin.media import mp4
from simapp_standin.params import EVALUATION_MANDATORY, Params, load, user_error
from simapp_standin.sim import Simulator, episode_line, evaluation_record, simtrace_csv

CHECKPOINT_NUMBER = re.compile(r"^(\d+)_Step-\d+\.ckpt$")
CAMERAS = ("camera-pip", "camera-45degree", "camera-topview")


def choose_checkpoint(s3: Store, bucket: str, prefix: str, choice: str) -> str:
    """The best or last checkpoint from deepracer_checkpoints.json, else the current .coach_checkpoint."""
    document = s3.get_json(bucket, f"{prefix}/model/deepracer_checkpoints.json") or {}
    entry = document.get(f"{choice}_checkpoint") or document.get("last_checkpoint") or {}
    name = str(entry.get("name") or "") or (s3.get_text(bucket, f"{prefix}/model/.coach_checkpoint") or "").strip()
    if not name or s3.get(bucket, f"{prefix}/model/{name}.index") is None:
        raise SimappError(
            f"No checkpoint found to evaluate in s3://{bucket}/{prefix}/model",
            function="evaluation_worker",
            exception_type="s3_datastore.exceptions",
            event_type="user_error",
            error_code="400",
        )
    return name


def evaluate(params: Params) -> None:
    region = str(params.first("AWS_REGION") or os.environ.get("APP_REGION") or "us-east-1")
    s3 = Store(params.get("S3_ENDPOINT_URL") or None, region)
    bucket = str(params.first("MODEL_S3_BUCKET"))
    prefix = str(params.first("MODEL_S3_PREFIX"))
    metadata_key = str(params.first("MODEL_METADATA_FILE_S3_KEY") or f"{prefix}/model/model_metadata.json")
    metadata_bytes = s3.get(bucket, metadata_key)
    if metadata_bytes is None:
        raise user_error(f"The model metadata s3://{bucket}/{metadata_key} does not exist", "evaluation_worker")
    metadata: dict[str, Any] = json.loads(metadata_bytes)

    choice = "last" if str(params.get("EVAL_CHECKPOINT", "best")).lower() == "last" else "best"
    name = choose_checkpoint(s3, bucket, prefix, choice)
    s3.put(bucket, f"{prefix}/model/.coach_checkpoint", name)
    log(f"Loaded checkpoint {name} for evaluation ({choice})")
    match = CHECKPOINT_NUMBER.match(name)
    checkpoint = int(match.group(1)) if match else 0

    simulator = Simulator(str(params.get("WORLD_NAME")), metadata, 0)
    trials = int(params.get("NUMBER_OF_TRIALS", 3) or 3)
    continuous = truthy(params.get("IS_CONTINUOUS", False))
    max_resets = int(params.get("NUMBER_OF_RESETS", 0) or 0)
    metrics_bucket = str(params.first("METRICS_S3_BUCKET"))
    metrics_key = str(params.first("METRICS_S3_OBJECT_KEY"))
    records: list[dict[str, Any]] = []
    rows: list[str] = []
    for trial in range(1, trials + 1):
        episode = simulator.play("evaluation", checkpoint, continuous=continuous, max_resets=max_resets)
        time.sleep(episode_seconds())
        for row in episode.rows:
            log(f"SIM_TRACE_LOG:{row}")
        rows += episode.rows
        log(episode_line("Testing", trial, episode.reward, episode.steps, checkpoint))
        records.append(evaluation_record(episode, trial))
        s3.put_json(metrics_bucket, metrics_key, {"metrics": records})
        log(f"[s3] Successfully uploaded metrics to{GAP}s3 bucket {metrics_bucket} with s3 key {metrics_key}.")
        telegraf.send(
            "dr_eval_episodes",
            {"phase": "evaluation", "status": episode.label, "model": prefix, "worker": "0"},
            {
                "reward": episode.reward,
                "progress": episode.progress,
                "elapsed_time": episode.elapsed_ms,
                "reset_count": episode.resets.get("reset_count", 0),
            },
        )

    simtrace_prefix = params.first("SIMTRACE_S3_PREFIX")
    if simtrace_prefix:
        simtrace_bucket = str(params.first("SIMTRACE_S3_BUCKET") or bucket)
        key = f"{simtrace_prefix}/evaluation-simtrace/0-iteration.csv"
        s3.put(simtrace_bucket, key, simtrace_csv(rows))
        log(f"[s3] Successfully uploaded simtrace_eval to{GAP}s3 bucket {simtrace_bucket} with s3 key {key}.")
    mp4_bucket = params.first("MP4_S3_BUCKET")
    mp4_prefix = params.first("MP4_S3_OBJECT_PREFIX")
    if mp4_bucket and mp4_prefix:
        for camera in CAMERAS:
            key = f"{mp4_prefix}/{camera}/0-video.mp4"
            s3.put(str(mp4_bucket), key, mp4())
            log(f"[s3] Successfully uploaded {camera} video to{GAP}s3 bucket {mp4_bucket} with s3 key {key}.")
    log("Evaluation job complete")


def run() -> None:
    params = load("MODEL_S3_BUCKET", "MODEL_S3_PREFIX", EVALUATION_MANDATORY)
    evaluate(params)
