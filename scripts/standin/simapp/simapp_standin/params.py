"""The Robomaker's YAML parameter file: download (with the environment's endpoint) and checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from simapp_standin.common import SimappError, Store, env_endpoint, log

TRAINING_MANDATORY = (
    "SAGEMAKER_SHARED_S3_BUCKET",
    "SAGEMAKER_SHARED_S3_PREFIX",
    "METRICS_S3_BUCKET",
    "METRICS_S3_OBJECT_KEY",
    "MODEL_METADATA_FILE_S3_KEY",
    "BODY_SHELL_TYPE",
    "CAR_COLOR",
)
EVALUATION_MANDATORY = (
    "MODEL_S3_BUCKET",
    "MODEL_S3_PREFIX",
    "METRICS_S3_BUCKET",
    "METRICS_S3_OBJECT_KEY",
    "BODY_SHELL_TYPE",
    "CAR_COLOR",
)
LOCAL_DIR = Path("custom_files")


def user_error(message: str, function: str = "yaml_file") -> SimappError:
    return SimappError(
        message,
        function=function,
        exception_type="simulation_worker.exceptions",
        event_type="user_error",
        error_code="400",
    )


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


class Params:
    """A downloaded parameter file; list-valued keys are read through ``first``/``values``."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name = name
        self.data = data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def first(self, key: str, default: Any = None) -> Any:
        values = as_list(self.data.get(key, default))
        return values[0] if values else default

    def values(self, key: str) -> list[Any]:
        value = self.data.get(key)
        return [] if value is None else as_list(value)


def download(bucket: str, prefix: str, name: str, region: str | None) -> Params:
    """What the launch file's downloader does: fetch ``<prefix>/<name>`` with the environment's endpoint."""
    store = Store(env_endpoint(), region)
    key = f"{prefix}/{name}"
    data = store.get(bucket, key)
    if data is None:
        raise user_error(f"Parameter file s3://{bucket}/{key} does not exist", "download_params")
    LOCAL_DIR.mkdir(exist_ok=True)
    (LOCAL_DIR / name).write_bytes(data)
    log(f"Downloaded s3://{bucket}/{key} to {LOCAL_DIR / name}")
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise user_error(f"Parameter file {name} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise user_error(f"Parameter file {name} is not a mapping")
    return Params(name, document)


def check(params: Params, mandatory: tuple[str, ...]) -> None:
    """Mandatory keys present, equal list lengths, and YAML WORLD_NAME equal to the env's."""
    missing = [key for key in mandatory if key not in params.data]
    if missing:
        raise user_error(f"Parameter file {params.name} misses the mandatory keys {', '.join(missing)}")
    lengths = {key: len(as_list(params.data[key])) for key in mandatory}
    if len(set(lengths.values())) != 1:
        raise user_error(f"Parameter file {params.name}: the mandatory keys differ in length ({lengths})")
    world = params.get("WORLD_NAME")
    env_world = os.environ.get("WORLD_NAME", "")
    if world is None:
        raise user_error(f"Parameter file {params.name} has no WORLD_NAME")
    if str(world) != env_world:
        raise user_error(
            f"WORLD_NAME {world!r} in {params.name} does not match the container's WORLD_NAME {env_world!r}"
        )


def load(bucket_variable: str, prefix_variable: str, mandatory: tuple[str, ...]) -> Params:
    """The job's parameter file, found through the container's environment, downloaded and checked."""
    params = download(
        os.environ.get(bucket_variable, ""),
        os.environ.get(prefix_variable, ""),
        os.environ.get("S3_YAML_NAME", ""),
        os.environ.get("APP_REGION"),
    )
    check(params, mandatory)
    return params
