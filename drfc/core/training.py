"""Starting and stopping a training run: pre-flight, launch, wait, clean up.

Everything is checked before anything is created. Containers are created in
parallel; every id is recorded as soon as it exists, so a failure or Ctrl-C at
any point removes exactly what this start created and nothing else.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from drfc.config.model import Config
from drfc.core.containers import KIND, RUN_ID, ContainerInfo, ContainerSpec
from drfc.core.training_plan import TrainingPlan
from drfc.errors import (
    AbortedError,
    ConflictError,
    GpuUnavailableError,
    InterruptedByUser,
    NotFoundError,
    RunFailedError,
)

if TYPE_CHECKING:
    from drfc.adapters.s3 import S3Store

START_LABEL = "drfc.start-id"


class Backend(Protocol):
    """What a run needs from Docker: the containers and the Swarm backends implement it."""

    kind: str

    def deploy(self, spec: ContainerSpec) -> str: ...
    def remove(self, unit_id: str) -> None: ...
    def stop(self, unit_id: str, timeout: int) -> None: ...
    def units(self, selector: Mapping[str, str | None]) -> list[ContainerInfo]: ...
    def logs(self, unit_id: str, tail: int) -> str: ...


class Events(Protocol):
    """How orchestration talks to the user, without knowing about terminals."""

    def step(self, message: str) -> None: ...
    def confirm(self, question: str) -> bool: ...
    def states(self, states: Mapping[str, str]) -> None: ...


@dataclass(frozen=True)
class StartOptions:
    wipe: bool = False
    assume_yes: bool = False
    startup_timeout: float = 180.0
    poll_interval: float = 0.5


@dataclass
class StartResult:
    plan: TrainingPlan
    started: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_selector(run_id: int, kind: str = "training") -> dict[str, str | None]:
    return {KIND: kind, RUN_ID: str(run_id)}


def ports_in_use(ports: list[int]) -> list[int]:
    """Host ports something already listens on (checked by binding, as Docker will)."""
    busy = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                busy.append(port)
    return busy


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


@contextmanager
def sigint_deferred() -> Iterator[None]:
    """Ignore Ctrl-C while cleaning up, so cleanup itself cannot be cut in half."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def launch(
    plan: TrainingPlan,
    backend: Backend,
    events: Events,
    options: StartOptions,
    *,
    label_specs: Callable[[ContainerSpec, str], ContainerSpec],
) -> list[str]:
    """Deploy every container in parallel and wait until all run; on any failure remove them all."""
    start_id = uuid.uuid4().hex[:12]
    specs = [label_specs(spec, start_id) for spec in plan.containers]
    created: list[str] = []
    pool = ThreadPoolExecutor(max_workers=min(16, len(specs)))
    try:
        futures = [pool.submit(_deploy, backend, spec, created) for spec in specs]
        for future in futures:
            future.result()
        wait_running(plan, backend, events, options, start_id)
        return created
    except BaseException as exc:
        pool.shutdown(wait=True, cancel_futures=True)
        with sigint_deferred():
            cleanup(backend, created, start_id)
        if isinstance(exc, KeyboardInterrupt):
            raise InterruptedByUser("interrupted: everything this start created was removed") from None
        raise
    finally:
        pool.shutdown(wait=True)


def _deploy(backend: Backend, spec: ContainerSpec, created: list[str]) -> None:
    created.append(backend.deploy(spec))  # list.append is atomic


def cleanup(backend: Backend, created: list[str], start_id: str) -> None:
    leftovers = {u.id for u in backend.units({START_LABEL: start_id})}
    for unit_id in set(created) | leftovers:
        backend.remove(unit_id)


def wait_running(plan: TrainingPlan, backend: Backend, events: Events, options: StartOptions, start_id: str) -> None:
    """Poll until every unit runs; a unit that exits during start-up fails the start with its log."""
    deadline = time.monotonic() + options.startup_timeout
    expected = len(plan.containers)
    while True:
        units = backend.units({START_LABEL: start_id})
        events.states({u.name: u.status for u in units})
        dead = [u for u in units if u.status in ("exited", "dead", "failed", "rejected", "shutdown", "complete")]
        if dead:
            unit = dead[0]
            tail = backend.logs(unit.id, 20).strip()
            raise RunFailedError(
                f"{unit.name} stopped during start-up"
                + (f" (exit code {unit.exit_code})" if unit.exit_code is not None else "")
                + (f"; its last log lines:\n{tail}" if tail else ""),
                hint="everything this start created was removed; fix the cause and start again",
            )
        if len(units) == expected and all(u.running for u in units):
            return
        if time.monotonic() > deadline:
            waiting = sorted(u.name for u in units if not u.running)
            raise RunFailedError(
                f"not all containers were running after {options.startup_timeout:.0f}s: {', '.join(waiting)}",
                hint="check `docker ps -a`; everything this start created was removed",
            )
        time.sleep(options.poll_interval)


def stop_run(backend: Backend, run_id: int, *, kind: str = "training", grace: int = 10) -> list[ContainerInfo]:
    """Stop and remove every unit of the run: the trainer gets ``grace`` seconds, then is killed."""
    units = backend.units(run_selector(run_id, kind))
    trainers = [u for u in units if u.role == "trainer"]
    others = [u for u in units if u.role != "trainer"]
    with ThreadPoolExecutor(max_workers=max(1, len(units))) as pool:
        list(pool.map(lambda u: backend.stop(u.id, grace), trainers))
        list(pool.map(lambda u: backend.stop(u.id, 2), others))
        list(pool.map(lambda u: backend.remove(u.id), units))
    return units


def check_gpu(cfg: Config, has_nvidia_runtime: Callable[[], bool]) -> None:
    if cfg.gpu_image and not has_nvidia_runtime():
        raise GpuUnavailableError(
            f"the image {cfg.simapp_image} is a GPU build, but Docker offers no NVIDIA runtime",
            hint="install the NVIDIA Container Toolkit and restart Docker, or use the CPU build: "
            f"`drfc config set DR_SIMAPP_VERSION={cfg.settings.simapp_version.replace('gpu', 'cpu')}`",
        )


def planned_ports(plan: TrainingPlan) -> list[int]:
    return [p.host for c in plan.containers for p in c.ports]


def describe_units(units: list[ContainerInfo]) -> list[dict[str, Any]]:
    return [
        {"name": u.name, "role": u.role, "worker": int(u.labels.get("drfc.worker", "0")), "status": u.status}
        for u in units
    ]
