"""Synthetic trained models: the object layout DRfC training leaves under a model prefix.

``trained_model`` returns ``{key: bytes}`` for a prefix the way simapp and drfc write it
(``upload-and-droa.md`` §7.1, ``simapp-contract.md``): checkpoint files per number, frozen graphs,
``deepracer_checkpoints.json``, ``.coach_checkpoint``, metadata, hyperparameters, reward function,
training YAML, metrics and simtrace CSVs. ``listing`` turns such a dict into the
``RemoteObject`` listing an S3 server would give (single-part MD5 ETags).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from drfc.core.storage import RemoteObject

MODEL_METADATA = {
    "action_space": [{"steering_angle": -30, "speed": 0.6}, {"steering_angle": 30, "speed": 0.6}],
    "sensor": ["FRONT_FACING_CAMERA"],
    "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
    "training_algorithm": "clipped_ppo",
    "action_space_type": "discrete",
    "version": "5",
}
HYPERPARAMETERS = {"batch_size": 64, "num_episodes_between_training": 20, "lr": 0.0003}
REWARD = b"def reward_function(params):\n    return 1.0\n"
TRAINING_YAML = """---
'ALTERNATE_DRIVING_DIRECTION': 'False'
'AWS_REGION': 'us-east-1'
'BODY_SHELL_TYPE': 'deepracer'
'CAR_COLOR': 'Red'
'METRICS_S3_BUCKET': 'bucket'
'METRICS_S3_OBJECT_KEY': '{prefix}/metrics/TrainingMetrics.json'
'MIN_EVAL_TRIALS': '5'
'MODEL_METADATA_FILE_S3_KEY': 'custom_files/model_metadata.json'
'RACE_TYPE': 'TIME_TRIAL'
'REWARD_FILE_S3_KEY': 'custom_files/reward_function.py'
'REVERSE_DIR': 'False'
'S3_ENDPOINT_URL': 'http://minio:9000'
'SAGEMAKER_SHARED_S3_BUCKET': 'bucket'
'SAGEMAKER_SHARED_S3_PREFIX': '{prefix}'
'SIMTRACE_S3_BUCKET': 'bucket'
'SIMTRACE_S3_PREFIX': '{prefix}'
'WORLD_NAME': '{world}'
"""


def ckpt_name(number: int) -> str:
    return f"{number}_Step-{number * 1000 + 7}.ckpt"


def checkpoint_entry(number: int, metric: str = "avg_eval_metric", value: float | None = 50.0) -> dict[str, Any]:
    return {"name": ckpt_name(number), metric: value, "time_stamp": 100.0 + number}


def trained_model(
    prefix: str = "rl-model",
    *,
    checkpoints: Iterable[int] = (1, 2, 3),
    last: int | None = None,
    best: int | None = None,
    metric: str = "avg_eval_metric",
    data_size: int = 2048,
    pb_size: int = 1024,
    simtraces: int = 3,
    world: str = "reInvent2019_wide",
    seed: int = 7,
) -> dict[str, bytes]:
    """Every object under ``prefix`` of a model trained up to ``last`` (default: the highest number)."""
    numbers = sorted(checkpoints)
    rng = random.Random(seed)
    last = numbers[-1] if last is None else last
    best = last if best is None else best

    def blob(size: int) -> bytes:
        return rng.randbytes(size)

    objects: dict[str, bytes] = {}
    model = f"{prefix}/model"
    for n in numbers:
        name = ckpt_name(n)
        objects[f"{model}/{name}.index"] = blob(64)
        objects[f"{model}/{name}.meta"] = blob(256)
        objects[f"{model}/{name}.data-00000-of-00001"] = blob(data_size)
        objects[f"{model}/model_{n}.pb"] = blob(pb_size)
    record = {
        "best_checkpoint": checkpoint_entry(best, metric, 80.0),
        "last_checkpoint": checkpoint_entry(last, metric, 60.0),
    }
    objects[f"{model}/deepracer_checkpoints.json"] = json.dumps(record).encode()
    objects[f"{model}/.coach_checkpoint"] = ckpt_name(last).encode()
    objects[f"{model}/model_metadata.json"] = json.dumps(MODEL_METADATA).encode()
    objects[f"{prefix}/ip/hyperparameters.json"] = json.dumps(HYPERPARAMETERS).encode()
    objects[f"{prefix}/ip/ip.json"] = b'{"IP": "10.0.0.2"}'
    objects[f"{prefix}/ip/done"] = b"done"
    objects[f"{prefix}/reward_function.py"] = REWARD
    objects[f"{prefix}/training_params.yaml"] = TRAINING_YAML.format(prefix=prefix, world=world).encode()
    metrics = {"metrics": [{"episode": i, "reward_score": i * 2, "phase": "training"} for i in range(20)]}
    objects[f"{prefix}/metrics/TrainingMetrics.json"] = json.dumps(metrics).encode()
    objects[f"{prefix}/metrics/evaluation/evaluation-20260101120000.json"] = b'{"metrics": []}'
    for i in range(simtraces):
        objects[f"{prefix}/training-simtrace/{i}-iteration.csv"] = b"episode,steps,x,y\n" + blob(512)
    return objects


MODIFIED = datetime(2026, 5, 1, 12, 30, 0, tzinfo=timezone.utc)


def listing(objects: Mapping[str, bytes], when: datetime = MODIFIED) -> list[RemoteObject]:
    """What an S3 listing of ``objects`` returns (single-part uploads: the ETag is the MD5)."""
    return [RemoteObject(key, len(data), hashlib.md5(data).hexdigest(), when) for key, data in sorted(objects.items())]


class Reads:
    """A ``read`` callable over ``objects`` that remembers every key it was asked for."""

    def __init__(self, objects: Mapping[str, bytes]) -> None:
        self.objects = objects
        self.keys: list[str] = []

    def __call__(self, key: str) -> bytes:
        self.keys.append(key)
        return self.objects[key]
