"""What an evaluation start checks and writes in S3, as a :class:`~drfc.core.runs.Recipe`, and its one container.

The generic sequence (GPU, run id, image, ports, network, launch, cleanup)
lives in :mod:`drfc.core.runs`; this module adds what is specific to an
evaluation: a usable checkpoint (and, for HEAD_TO_MODEL, the opponent's),
the optional clone to ``<prefix>-E`` (the simapp rewrites
``model/.coach_checkpoint`` of whatever it evaluates, so cloning keeps the
original untouched), and the YAML the Robomaker reads. Every key an
evaluation writes carries its start time, so evaluations never overwrite
each other; a copy of the YAML next to the simtrace records what was run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from drfc.config.model import Config
from drfc.config.schema import RaceType
from drfc.core.containers import HOME, KIND, MODEL_PREFIX, ContainerInfo, ContainerSpec, PortMap
from drfc.core.params import STAMP_FORMAT, EvaluationKeys, dump_yaml, evaluation_params, text
from drfc.core.plan import Credentials, RunPlan
from drfc.core.runs import ENDED, Backend, Events, StartOptions, run_selector, stop_units
from drfc.core.training_plan import run_labels, simulation_spec
from drfc.errors import ConfigError, DrfcError, NotFoundError

if TYPE_CHECKING:
    from drfc.adapters.s3 import S3Store

CLONE_SUFFIX = "-E"
#: The folders a clone copies (the simapp needs the checkpoints, the metadata and the hyperparameters).
CLONED_FOLDERS = ("model", "ip")
#: Labels on the evaluation's container, so `drfc status` can show its progress without the configuration.
METRICS_LABEL = "drfc.metrics-key"
TRIALS_LABEL = "drfc.trials"
_DATA_SHARD = re.compile(r"^data-\d{5}-of-\d{5}$")


def clone_prefix(prefix: str) -> str:
    return f"{prefix}{CLONE_SUFFIX}"


def metrics_prefix_for(cfg: Config, prefix: str) -> str:
    """The metrics prefix of ``prefix``: the configured one, moved along when it lies inside the model prefix.

    DRfC kept writing a clone's metrics under the original prefix (its metrics prefix was expanded
    before the clone); here a clone's metrics stay with the clone, so the original is never touched.
    """
    s = cfg.settings
    configured, source = s.local_s3_metrics_prefix, s.local_s3_model_prefix
    if prefix == source:
        return configured
    if configured == source or configured.startswith(f"{source}/"):
        return prefix + configured[len(source) :]
    return configured


def check_checkpoint(store: S3Store, bucket: str, prefix: str, choice: str, what: str = "model") -> str:
    """The name of the ``choice`` (best|last) checkpoint of ``prefix``, after checking all its files exist."""
    where = f"s3://{bucket}/{prefix}/model/"
    record = f"{prefix}/model/deepracer_checkpoints.json"
    if not store.exists(record):
        raise NotFoundError(
            f"the {what} {prefix} has no checkpoint to evaluate: {where}deepracer_checkpoints.json does not exist",
            hint="train it until a checkpoint is written (`drfc status` shows the iteration), or check the prefix",
        )
    try:
        document = json.loads(store.get_bytes(record))
    except ValueError:
        document = None
    entry = document.get(f"{choice}_checkpoint") if isinstance(document, dict) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name:
        other = "best" if choice == "last" else "last"
        raise NotFoundError(
            f"{where}deepracer_checkpoints.json of the {what} records no {choice} checkpoint",
            hint=f"evaluate the {other} one with `--checkpoint {other}`",
        )
    files = {obj.key.rsplit("/", 1)[-1] for obj in store.list(f"{prefix}/model")}
    missing = [f"{name}.{suffix}" for suffix in ("index", "meta") if f"{name}.{suffix}" not in files]
    if not any(f.startswith(f"{name}.") and _DATA_SHARD.match(f[len(name) + 1 :]) for f in files):
        missing.append(f"{name}.data-00000-of-00001")
    if "model_metadata.json" not in files:
        missing.append("model_metadata.json")
    if missing:
        raise NotFoundError(
            f"the {choice} checkpoint {name} of the {what} is not usable: {where} lacks {', '.join(missing)}",
            hint="the model files are incomplete; evaluate the other checkpoint with --checkpoint, or retrain",
        )
    return name


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def free_stamp(store: S3Store, keys: Callable[[str], list[EvaluationKeys]], start: datetime) -> str:
    """The first stamp from ``start`` on whose keys nothing uses yet (two evaluations in one second)."""
    moment = start
    for _ in range(120):
        stamp = moment.strftime(STAMP_FORMAT)
        if not any(store.exists(k.metrics_key) or not store.prefix_is_empty(k.simtrace_prefix) for k in keys(stamp)):
            return stamp
        moment += timedelta(seconds=1)
    return moment.strftime(STAMP_FORMAT)


def evaluation_keys(cfg: Config, prefix: str, stamp: str) -> list[EvaluationKeys]:
    """The model's keys, and for HEAD_TO_MODEL the opponent's (under the opponent's own prefix)."""
    s = cfg.settings
    keys = [EvaluationKeys(s.local_s3_bucket, prefix, metrics_prefix_for(cfg, prefix), stamp)]
    if s.race_type == RaceType.HEAD_TO_MODEL:
        opponent = s.eval_opp_s3_model_prefix
        metrics = s.eval_opp_s3_metrics_prefix or f"{opponent}/metrics"
        keys.append(EvaluationKeys(s.local_s3_bucket, opponent, metrics, stamp))
    return keys


def evaluation_spec(
    cfg: Config, own: EvaluationKeys, credentials: Credentials | None, *, host_env: Mapping[str, str]
) -> ContainerSpec:
    """The one Robomaker of an evaluation: `run.sh run evaluation.launch.py` on port 8180 + run id."""
    s = cfg.settings
    env = {
        "WORLD_NAME": s.world_name,
        "MODEL_S3_PREFIX": own.prefix,
        "MODEL_S3_BUCKET": own.bucket,
        "APP_REGION": s.aws_app_region,
        "S3_YAML_NAME": s.local_s3_eval_params_file,
        "ROLLOUT_IDX": "0",
        "DEBUG_REWARD": text(s.eval_debug_reward),
    }
    labels = {
        **run_labels(cfg, "robomaker", 1, "evaluation", model_prefix=own.prefix),
        METRICS_LABEL: own.metrics_key,
        TRIALS_LABEL: str(s.eval_number_of_trials),
    }
    return simulation_spec(
        cfg,
        credentials,
        host_env=host_env,
        name=f"drfc-{cfg.run_id}-eval-robomaker",
        command="/opt/ml/code/run.sh run evaluation.launch.py",
        labels=labels,
        environment=env,
        ports=(PortMap(8080, cfg.eval_port),),
        rtf=s.eval_rtf,
    )


def plan_evaluation(
    cfg: Config,
    *,
    prefix: str,
    stamp: str,
    checkpoint: str,
    credentials: Credentials | None,
    host_env: Mapping[str, str] | None = None,
) -> RunPlan:
    """The container and the YAML files (the simapp's, and the record next to the simtrace) of one evaluation."""
    keys = evaluation_keys(cfg, prefix, stamp)
    own = keys[0]
    params = dump_yaml(evaluation_params(cfg, own, checkpoint=checkpoint, opponent=keys[1] if len(keys) > 1 else None))
    record = own.record_key[len(prefix) + 1 :]
    return RunPlan(
        run_id=cfg.run_id,
        backend=cfg.backend,
        network=cfg.network,
        model_prefix=prefix,
        containers=(evaluation_spec(cfg, own, credentials, host_env=host_env or {}),),
        s3_files={cfg.settings.local_s3_eval_params_file: params, record: params},
        kind="evaluation",
    )


@dataclass
class EvaluationRecipe:
    """Evaluation's part of :func:`drfc.core.runs.start_run`."""

    cfg: Config
    credentials: Credentials | None
    host_env: Mapping[str, str]
    checkpoint: str = "last"
    clone: bool = False
    clock: Callable[[], datetime] = utc_now
    kind: str = "evaluation"
    #: set by preflight: the checkpoint the simapp will load
    checkpoint_name: str | None = field(default=None, init=False)
    stamp: str | None = field(default=None, init=False)
    _events: Events | None = field(default=None, init=False, repr=False)
    _restore: dict[str, bytes | None] = field(default_factory=dict, init=False, repr=False)
    _clone_created: bool = field(default=False, init=False, repr=False)

    @property
    def source(self) -> str:
        return self.cfg.settings.local_s3_model_prefix

    @property
    def prefix(self) -> str:
        """The prefix evaluated: the model, or its clone."""
        return clone_prefix(self.source) if self.clone else self.source

    def preflight(self, store: S3Store, events: Events, options: StartOptions) -> None:
        self._events = events
        s = self.cfg.settings
        self.checkpoint_name = check_checkpoint(store, s.local_s3_bucket, self.source, self.checkpoint)
        if s.race_type == RaceType.HEAD_TO_MODEL:
            opponent = s.eval_opp_s3_model_prefix
            if opponent in (self.source, self.prefix):
                raise ConfigError(
                    f"the HEAD_TO_MODEL opponent (DR_EVAL_OPP_S3_MODEL_PREFIX={opponent}) is the evaluated model",
                    hint="set DR_EVAL_OPP_S3_MODEL_PREFIX to another trained model in the same bucket",
                )
            check_checkpoint(store, s.local_s3_bucket, opponent, self.checkpoint, "opponent")

    def plan(self, store: S3Store) -> RunPlan:
        self.stamp = free_stamp(store, lambda stamp: evaluation_keys(self.cfg, self.prefix, stamp), self.clock())
        return plan_evaluation(
            self.cfg,
            prefix=self.prefix,
            stamp=self.stamp,
            checkpoint=self.checkpoint,
            credentials=self.credentials,
            host_env=self.host_env,
        )

    def publish(self, store: S3Store, plan: RunPlan) -> list[str]:
        if self.clone:
            self._clone(store)
        written = []
        for name, body in plan.s3_files.items():
            key = f"{self.prefix}/{name}"
            self._restore[key] = store.get_bytes(key) if store.exists(key) else None
            store.put_bytes(key, body.encode(), content_type="application/x-yaml")
            written.append(key)
        return written

    def _clone(self, store: S3Store) -> None:
        """Mirror model/ and ip/ into the clone; retried when a running training changed them meanwhile."""
        bucket = self.cfg.settings.local_s3_bucket
        self._clone_created = all(store.prefix_is_empty(f"{self.prefix}/{d}") for d in CLONED_FOLDERS)
        if self._events is not None:
            self._events.step(f"cloning s3://{bucket}/{self.source}/ (model, ip) to s3://{bucket}/{self.prefix}/")
        for attempt in range(3):
            try:
                for folder in CLONED_FOLDERS:
                    store.copy_prefix(f"{self.source}/{folder}", f"{self.prefix}/{folder}", delete=True)
                store.delete_keys([f"{self.prefix}/model/.lock"])  # a training upload in progress at copy time
                self.checkpoint_name = check_checkpoint(store, bucket, self.prefix, self.checkpoint, "clone")
                return
            except DrfcError:  # training deleted or rewrote a checkpoint while it was being copied
                if attempt == 2:
                    raise

    def rollback(self, store: S3Store, published: list[str]) -> None:
        """Put back the YAML an earlier evaluation left, remove the record, and a clone this start made."""
        for key, previous in self._restore.items():
            if previous is None:
                store.delete_keys([key])
            else:
                store.put_bytes(key, previous, content_type="application/x-yaml")
        if self._clone_created:
            for folder in CLONED_FOLDERS:
                store.delete_prefix(f"{self.prefix}/{folder}")


def clear_finished(backend: Backend, run_id: int) -> list[ContainerInfo]:
    """Remove this run id's evaluation units when all have ended (a finished evaluation stays until then)."""
    units = backend.units(run_selector(run_id, "evaluation"))
    if not units or any(u.status not in ENDED for u in units):
        return []
    stop_units(backend, units)
    backend.wait_gone(run_selector(run_id, "evaluation"), 30)
    return units


def trainings_of(backend: Backend, cfg: Config, prefix: str) -> list[ContainerInfo]:
    """Running training units (any run id) of this home that train ``prefix``."""
    selector: dict[str, str | None] = {KIND: "training", MODEL_PREFIX: prefix, HOME: str(cfg.home)}
    return [u for u in backend.units(selector) if u.running]


def describe_start(recipe: EvaluationRecipe) -> dict[str, Any]:
    return {
        "checkpoint": recipe.checkpoint,
        "checkpoint_name": recipe.checkpoint_name,
        "model_prefix": recipe.prefix,
        "source_prefix": recipe.source,
        "clone": recipe.clone,
        "stamp": recipe.stamp,
        "record": evaluation_keys(recipe.cfg, recipe.prefix, recipe.stamp)[0].record_key if recipe.stamp else None,
    }
