"""Starting and stopping a run (training or evaluation): pre-flight, launch, wait, clean up.

One sequence serves every kind of run; what differs between training and
evaluation (which S3 objects must exist, which plan, which files to publish)
is a :class:`Recipe`. Everything is checked before anything is created.
Containers are deployed in parallel; every id is recorded as soon as it
exists, so a failure or Ctrl-C at any point removes exactly what this start
created (containers, services, published files) and nothing else.
"""

from __future__ import annotations

import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from drfc.config.model import Config
from drfc.core.containers import (
    KIND,
    MANAGED,
    ROLE,
    RUN_ID,
    WORKER,
    ContainerInfo,
    ContainerSpec,
    PullProgress,
    PullReporter,
)
from drfc.core.plan import RunPlan
from drfc.errors import ConflictError, GpuUnavailableError, InterruptedByUser, RunFailedError

if TYPE_CHECKING:
    from drfc.adapters.s3 import S3Store
    from drfc.core.storage import SyncProgress

START_LABEL = "drfc.start-id"
#: The kinds of run drfc starts (the local store is kind ``storage`` and is not a run).
RUN_KINDS = ("training", "evaluation")
#: Task and container states after which a unit will not run again (containers and Swarm tasks).
ENDED = ("exited", "dead", "failed", "rejected", "shutdown", "complete", "orphaned", "removing")


class Backend(Protocol):
    """What a run needs from Docker; the containers and the Swarm backends implement it."""

    kind: str

    def gpu_problem(self) -> str | None:
        """Why a GPU image cannot get a GPU here, or None when it can."""
        ...

    def ensure_image(self, ref: str, pulling: PullProgress) -> bool:
        """Make ``ref`` available to the backend; True when it had to be pulled."""
        ...

    def prepare(self, plan: RunPlan, step: Callable[[str], None]) -> None:
        """Everything shared the plan needs before deploying (network, node labels)."""
        ...

    def deploy(self, spec: ContainerSpec) -> str: ...
    def remove(self, unit_id: str) -> None: ...
    def stop(self, unit_id: str, timeout: int) -> None: ...
    def units(self, selector: Mapping[str, str | None], *, detailed: bool = False) -> list[ContainerInfo]:
        """Units carrying every label (None: any value), cheap enough to poll: states, labels, exit codes.

        ``detailed`` adds start times and ports where that costs an engine call per unit (containers).
        """
        ...

    def logs(self, unit_id: str, tail: int | str = "all", since: int | None = None) -> str: ...
    def follow(self, unit_id: str, tail: int | str = "all", since: int | None = None) -> Iterator[str]: ...
    def wait_gone(self, selector: Mapping[str, str | None], timeout: float) -> None: ...


class Events(Protocol):
    """How orchestration talks to the user, without knowing about terminals."""

    def step(self, message: str) -> None: ...
    def confirm(self, question: str) -> bool: ...
    def states(self, states: Mapping[str, str]) -> None: ...
    def pulling(self, image: str) -> AbstractContextManager[PullReporter]: ...
    def uploading(self, label: str) -> AbstractContextManager[SyncProgress]: ...


class Recipe(Protocol):
    """The kind-specific part of a start: S3 pre-flight, the plan, the files the simapp reads."""

    kind: str

    def preflight(self, store: S3Store, events: Events, options: StartOptions) -> None: ...
    def plan(self, store: S3Store) -> RunPlan: ...
    def publish(self, store: S3Store, plan: RunPlan) -> list[str]:
        """Write what the containers read from S3; returns the keys written (removed again on failure)."""
        ...

    def rollback(self, store: S3Store, published: list[str]) -> None:
        """Undo what this start wrote to S3 when it fails or is interrupted."""
        ...


@dataclass(frozen=True)
class StartOptions:
    wipe: bool = False
    assume_yes: bool = False
    startup_timeout: float = 180.0
    poll_interval: float = 0.1
    #: how long each unit must have been seen running before the start counts as done: a container
    #: whose command fails at once is still reported running 0.08-0.17 s after its start returned
    #: (measured on Docker 20.10, idle and loaded host), a Swarm task about 0.1 s longer
    settle: float = 0.25


@dataclass
class StartResult:
    plan: RunPlan
    started: list[str] = field(default_factory=list)
    seconds: float = 0.0
    pulled: bool = False


def run_selector(run_id: int, kind: str = "training") -> dict[str, str | None]:
    return {KIND: kind, RUN_ID: str(run_id)}


def unit_selector(run_id: int, kind: str, role: str, worker: int | None = None) -> dict[str, str | None]:
    selector = {**run_selector(run_id, kind), ROLE: role}
    if worker is not None:
        selector[WORKER] = str(worker)
    return selector


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


def planned_ports(plan: RunPlan) -> list[int]:
    return [p.host for c in plan.containers for p in c.ports]


def check_gpu(cfg: Config, backend: Backend) -> None:
    if not cfg.gpu_image:
        return
    problem = backend.gpu_problem()
    if problem:
        raise GpuUnavailableError(
            f"the image {cfg.simapp_image} is a GPU build, but {problem}",
            hint="install the NVIDIA Container Toolkit and restart Docker, or use the CPU build: "
            f"`drfc config set DR_SIMAPP_VERSION={cfg.settings.simapp_version.replace('gpu', 'cpu')}`",
        )


def start_run(
    cfg: Config, backend: Backend, store: S3Store, events: Events, recipe: Recipe, options: StartOptions
) -> StartResult:
    """The whole start sequence; nothing is created before every check passed."""
    started = time.monotonic()
    check_gpu(cfg, backend)
    running = backend.units(run_selector(cfg.run_id, recipe.kind))
    if running:
        raise ConflictError(
            f"run {cfg.run_id} already has {'an' if recipe.kind[0] in 'aeiou' else 'a'} {recipe.kind} "
            f"with {len(running)} container(s): " + ", ".join(u.name for u in running),
            hint=f"stop it with `drfc stop-{recipe.kind}`, or use another DR_RUN_ID",
        )
    recipe.preflight(store, events, options)
    pulled = backend.ensure_image(cfg.simapp_image, events.pulling)
    plan = recipe.plan(store)
    busy = ports_in_use(planned_ports(plan))
    if busy:
        raise ConflictError(
            f"host port(s) {', '.join(map(str, busy))} needed by run {cfg.run_id} are in use",
            hint="stop what uses them, or pick another DR_RUN_ID (ports move with it)",
        )
    backend.prepare(plan, events.step)
    published: list[str] = []
    try:
        published += recipe.publish(store, plan)
        events.step(f"starting {len(plan.containers)} container(s) for run {cfg.run_id} ({backend.kind})")
        created = launch(plan, backend, events, options)
    except BaseException:
        with sigint_deferred():
            recipe.rollback(store, published)
        raise
    return StartResult(plan, created, time.monotonic() - started, pulled)


@contextmanager
def sigint_deferred(*, reraise: bool = False) -> Iterator[None]:
    """Hold Ctrl-C back while a block runs, so the block cannot be cut in half.

    With ``reraise``, a Ctrl-C that arrived meanwhile is raised once the block is done; without,
    it is dropped (used by cleanups, which already run because of an interrupt or a failure).
    """
    hits: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: hits.append(signum))
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if hits and reraise:
        raise KeyboardInterrupt


def launch(plan: RunPlan, backend: Backend, events: Events, options: StartOptions) -> list[str]:
    """Deploy every unit in parallel and wait until all run; on any failure remove them all."""
    start_id = uuid.uuid4().hex[:12]
    specs = [replace(spec, labels={**spec.labels, START_LABEL: start_id}) for spec in plan.containers]
    created: list[str] = []
    pool = ThreadPoolExecutor(max_workers=min(16, len(specs)))
    try:
        # A Ctrl-C inside submit() could orphan a thread the pool then never waits for: hold it back.
        with sigint_deferred(reraise=True):
            futures = [pool.submit(_deploy, backend, spec, created) for spec in specs]
        for future in futures:
            future.result()
        wait_running(len(specs), backend, events, options, start_id)
        return created
    except BaseException as exc:
        with sigint_deferred():  # a second Ctrl-C must not skip the cleanup
            pool.shutdown(wait=True, cancel_futures=True)  # deploys in flight finish, then are removed
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
    backend.wait_gone({START_LABEL: start_id}, 30)


def wait_running(expected: int, backend: Backend, events: Events, options: StartOptions, start_id: str) -> None:
    """Poll until every unit runs and has been seen running for ``settle`` seconds; one that ends fails the start.

    The window counts per unit from when it was first seen running, so units that came up early
    have settled by the time the last one runs; it spans from the end of the listing that first saw
    the unit running to the start of the one that still does.
    """
    deadline = time.monotonic() + options.startup_timeout
    running_since: dict[str, float] = {}
    while True:
        asked = time.monotonic()  # the states below were read somewhere between `asked` and `now`
        units = backend.units({START_LABEL: start_id})
        now = time.monotonic()
        events.states({u.name: u.status for u in units})
        dead = [u for u in units if u.status in ENDED]
        if dead:
            unit = dead[0]
            tail = backend.logs(unit.id, 20).strip()
            cause = [f"exit code {unit.exit_code}"] if unit.exit_code is not None else []
            cause += [unit.error] if unit.error else []
            raise RunFailedError(
                f"{unit.name} stopped during start-up"
                + (f" ({'; '.join(cause)})" if cause else "")
                + (f"; its last log lines:\n{tail}" if tail else ""),
                hint="everything this start created was removed; fix the cause and start again",
            )
        for unit in units:
            if unit.running:
                running_since.setdefault(unit.id, now)
            else:
                running_since.pop(unit.id, None)
        if len(units) == expected and all(u.running for u in units):
            youngest = max(running_since[u.id] for u in units)
            if options.settle <= 0 or asked - youngest >= options.settle:  # however slow the engine answers
                return
            pause = min(options.poll_interval, options.settle - (asked - youngest))
        else:
            pause = options.poll_interval
        if now > deadline:
            waiting = sorted(f"{u.name} ({u.status})" for u in units if not u.running)
            raise RunFailedError(
                f"not all containers were running after {options.startup_timeout:.0f}s: {', '.join(waiting)}",
                hint="everything this start created was removed; see `docker ps -a` / `docker service ps`",
            )
        time.sleep(pause)


def stop_units(backend: Backend, units: list[ContainerInfo], *, grace: int = 10) -> list[ContainerInfo]:
    """Stop and remove ``units``: trainers get ``grace`` seconds before they are killed, workers two."""
    if not units:
        return units
    with ThreadPoolExecutor(max_workers=min(16, len(units))) as pool:
        list(pool.map(lambda u: backend.stop(u.id, grace if u.role == "trainer" else 2), units))
        list(pool.map(lambda u: backend.remove(u.id), units))
    return units


def stop_selected(backend: Backend, selector: Mapping[str, str | None], *, grace: int = 10) -> list[ContainerInfo]:
    """Stop and remove every unit the selector matches (idempotent), then wait until they are gone."""
    stopped = stop_units(backend, backend.units(selector), grace=grace)
    backend.wait_gone(selector, grace + 30)
    return stopped


def stop_run(backend: Backend, run_id: int, *, kind: str = "training", grace: int = 10) -> list[ContainerInfo]:
    return stop_selected(backend, run_selector(run_id, kind), grace=grace)


def stop_everything(backend: Backend, *, grace: int = 10) -> list[ContainerInfo]:
    """Every run of every kind drfc started on this backend (never the local store, never foreign units)."""
    return [unit for kind in RUN_KINDS for unit in stop_selected(backend, {MANAGED: "true", KIND: kind}, grace=grace)]


def describe_units(units: list[ContainerInfo]) -> list[dict[str, Any]]:
    return [
        {
            "name": u.name,
            "kind": u.labels.get(KIND, ""),
            "run_id": int(u.labels.get(RUN_ID, "-1")),
            "role": u.role,
            "worker": int(u.labels.get(WORKER, "0")),
            "status": u.status,
        }
        for u in units
    ]
