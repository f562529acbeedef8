"""What a training start checks and writes in S3, as a :class:`~drfc.core.runs.Recipe`.

The generic sequence (GPU, run id, image, ports, network, launch, cleanup)
lives in :mod:`drfc.core.runs`; this module adds the training-specific steps:
the custom files (uploaded when the local bucket has none), an empty model
prefix (or ``--wipe``), the pretrained model, and the YAML files and reward
function the Robomaker workers read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drfc.config.model import Config
from drfc.core.plan import Credentials, RunPlan
from drfc.core.runs import Events, StartOptions
from drfc.errors import AbortedError, ConflictError, NotFoundError

if TYPE_CHECKING:
    from drfc.adapters.s3 import S3Store


def check_custom_files(cfg: Config, store: S3Store) -> list[str]:
    """The custom-file keys the run needs that are missing from the bucket."""
    s = cfg.settings
    keys = (s.local_s3_reward_key, s.local_s3_model_metadata_key, s.local_s3_hyperparameters_key)
    return [k for k in keys if not store.exists(k)]


def check_pretrained(cfg: Config, store: S3Store) -> None:
    s = cfg.settings
    if not s.local_s3_pretrained:
        return
    prefix = s.local_s3_pretrained_prefix
    key = f"{prefix}/model/deepracer_checkpoints.json"
    if not store.exists(key):
        raise NotFoundError(
            f"DR_LOCAL_S3_PRETRAINED is True but s3://{s.local_s3_bucket}/{key} does not exist",
            hint="check DR_LOCAL_S3_PRETRAINED_PREFIX, or set DR_LOCAL_S3_PRETRAINED=False",
        )
    checkpoints = json.loads(store.get_bytes(key))
    which = f"{s.local_s3_pretrained_checkpoint.value}_checkpoint"
    name = (checkpoints.get(which) or {}).get("name")
    if not name or not store.exists(f"{prefix}/model/{name}.index"):
        raise NotFoundError(
            f"the {s.local_s3_pretrained_checkpoint.value} checkpoint of the pretrained model {prefix} "
            f"({name or 'none recorded'}) is not in s3://{s.local_s3_bucket}/{prefix}/model/",
            hint="pick the other checkpoint with DR_LOCAL_S3_PRETRAINED_CHECKPOINT, or another pretrained prefix",
        )


def check_model_prefix(cfg: Config, store: S3Store, options: StartOptions, events: Events) -> None:
    """The model prefix must be empty; --wipe empties exactly that prefix after confirmation."""
    s = cfg.settings
    prefix = s.local_s3_model_prefix
    if store.prefix_is_empty(prefix):
        return
    where = f"s3://{s.local_s3_bucket}/{prefix}/"
    if not options.wipe:
        raise ConflictError(
            f"the model prefix {where} already holds a model",
            hint="train under a new name (`drfc increment-training`), or wipe it with `drfc start-training --wipe`",
        )
    if not (options.assume_yes or events.confirm(f"Delete everything under {where}?")):
        raise AbortedError(f"{where} was not wiped; nothing was started")
    events.step(f"wiping {where}")
    store.delete_prefix(prefix)


@dataclass
class TrainingRecipe:
    """Training's part of :func:`drfc.core.runs.start_run`."""

    cfg: Config
    credentials: Credentials | None
    host_env: Mapping[str, str]
    #: uploads custom_files/ to the bucket; given only where drfc manages the store (local MinIO)
    upload_custom_files: Callable[[S3Store, Events], None] | None = None
    kind: str = "training"

    def preflight(self, store: S3Store, events: Events, options: StartOptions) -> None:
        cfg = self.cfg
        missing = check_custom_files(cfg, store)
        if missing and self.upload_custom_files is not None:
            events.step("the bucket has no custom files: uploading custom_files/")
            self.upload_custom_files(store, events)
            missing = check_custom_files(cfg, store)
        if missing:
            raise NotFoundError(
                f"custom files missing in s3://{cfg.settings.local_s3_bucket}/: {', '.join(missing)}",
                hint="upload them with `drfc upload-custom-files`",
            )
        check_model_prefix(cfg, store, options, events)
        check_pretrained(cfg, store)

    def plan(self, store: S3Store) -> RunPlan:
        from drfc.core.training_plan import plan_training

        hyper = _json_object(store.get_bytes(self.cfg.settings.local_s3_hyperparameters_key))
        return plan_training(self.cfg, hyperparameters=hyper, credentials=self.credentials, host_env=self.host_env)

    def publish(self, store: S3Store, plan: RunPlan) -> list[str]:
        prefix = self.cfg.settings.local_s3_model_prefix
        written = []
        for name, text in plan.s3_files.items():
            store.put_bytes(f"{prefix}/{name}", text.encode(), content_type="application/x-yaml")
            written.append(f"{prefix}/{name}")
        store.copy(self.cfg.settings.local_s3_reward_key, f"{prefix}/reward_function.py")
        written.append(f"{prefix}/reward_function.py")
        return written

    def rollback(self, store: S3Store, published: list[str]) -> None:
        """The prefix was empty (or wiped) at pre-flight, so all under it is this start's doing."""
        if published:
            store.delete_prefix(self.cfg.settings.local_s3_model_prefix)


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        from drfc.errors import CustomFilesError

        raise CustomFilesError("hyperparameters.json in the bucket is not a JSON object", hint="upload it again")
    return value
