"""The start and stop sequence of ``drfc.core.runs`` against an in-memory backend.

``FakeBackend`` stands in for Docker here only to exercise the orchestration logic (order of checks,
parallel deploys, cleanup on failure or Ctrl-C, rollback of published files, conflicts); both real
backends run the same sequence in tests/integration. ``FakeStore`` is an in-memory S3Store for the
training recipe's pre-flight and rollback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from drfc.config.load import LoadOptions, load_config
from drfc.config.model import Config
from drfc.core.containers import ContainerInfo, ContainerSpec, PortMap, labels
from drfc.core.plan import Credentials, RunPlan
from drfc.core.runs import START_LABEL, StartOptions, run_selector, start_run, stop_run
from drfc.core.training import TrainingRecipe
from drfc.errors import (
    AbortedError,
    ConflictError,
    DockerError,
    GpuUnavailableError,
    InterruptedByUser,
    NotFoundError,
    RunFailedError,
)

FAST = StartOptions(startup_timeout=2.0, poll_interval=0.01)


# --------------------------------------------------------------------------------------------- fakes
@dataclass
class Unit:
    spec: ContainerSpec
    states: list[str]  # one per poll; the last one stays
    exit_code: int | None = None
    log: str = ""

    def status(self) -> str:
        return self.states[0] if len(self.states) == 1 else self.states.pop(0)


@dataclass
class FakeBackend:
    """Units in a dict; ``script(spec)`` decides how each one behaves once deployed."""

    kind: str = "containers"
    deploy_seconds: float = 0.0
    script: Callable[[ContainerSpec], Unit | Exception] = lambda spec: Unit(spec, ["created", "running"])
    gpu: str | None = None
    units_by_id: dict[str, Unit] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    stops: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def gpu_problem(self) -> str | None:
        return self.gpu

    def ensure_image(self, ref: str, pulling: Any) -> bool:
        self.calls.append(("ensure_image", ref))
        return False

    def prepare(self, plan: RunPlan, step: Any) -> None:
        self.calls.append(("prepare", plan.network))

    def deploy(self, spec: ContainerSpec) -> str:
        time.sleep(self.deploy_seconds)
        outcome = self.script(spec)
        with self.lock:
            self.counter += 1
            unit_id = f"id-{self.counter}"
            if isinstance(outcome, Exception):
                raise outcome
            self.units_by_id[unit_id] = outcome
        self.calls.append(("deploy", spec.name))
        return unit_id

    def add(self, spec: ContainerSpec, state: str = "running") -> str:
        """A unit that exists before the test's start (another run, or a half-made one)."""
        with self.lock:
            self.counter += 1
            self.units_by_id[f"id-{self.counter}"] = Unit(spec, [state])
            return f"id-{self.counter}"

    def remove(self, unit_id: str) -> None:
        self.calls.append(("remove", unit_id))
        with self.lock:
            self.units_by_id.pop(unit_id, None)

    def stop(self, unit_id: str, timeout: int) -> None:
        self.stops[unit_id] = timeout

    def units(self, selector: Mapping[str, str | None], *, detailed: bool = False) -> list[ContainerInfo]:
        with self.lock:
            items = list(self.units_by_id.items())
        found = []
        for unit_id, unit in items:
            if all(k in unit.spec.labels and (v is None or unit.spec.labels[k] == v) for k, v in selector.items()):
                status = unit.status()
                found.append(
                    ContainerInfo(
                        unit_id,
                        unit.spec.name,
                        unit.spec.image,
                        status,
                        unit.spec.labels,
                        exit_code=unit.exit_code if status == "exited" else None,
                    )
                )
        return found

    def logs(self, unit_id: str, tail: int | str = "all", since: int | None = None) -> str:
        unit = self.units_by_id[unit_id]
        lines = unit.log.splitlines()
        return "\n".join(lines[-tail:] if isinstance(tail, int) else lines)

    def follow(self, unit_id: str, tail: int | str = "all", since: int | None = None) -> Iterator[str]:
        return iter(self.logs(unit_id, tail).splitlines())

    def wait_gone(self, selector: Mapping[str, str | None], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.units(selector) and time.monotonic() < deadline:
            time.sleep(0.01)

    def deployed(self) -> list[str]:
        return [name for call, name in self.calls if call == "deploy"]


@dataclass
class FakeEvents:
    answer: bool = False
    steps: list[str] = field(default_factory=list)
    seen: list[dict[str, str]] = field(default_factory=list)

    def step(self, message: str) -> None:
        self.steps.append(message)

    def confirm(self, question: str) -> bool:
        self.steps.append(f"asked: {question}")
        return self.answer

    def states(self, states: Mapping[str, str]) -> None:
        self.seen.append(dict(states))

    @contextlib.contextmanager
    def pulling(self, image: str) -> Iterator[Any]:
        yield None

    @contextlib.contextmanager
    def uploading(self, label: str) -> Iterator[Any]:
        yield None


@dataclass
class FakeRecipe:
    """The generic part of a start only needs a plan and something to publish and roll back."""

    the_plan: RunPlan
    kind: str = "training"
    published: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    preflight_error: Exception | None = None

    def preflight(self, store: Any, events: Any, options: StartOptions) -> None:
        if self.preflight_error:
            raise self.preflight_error

    def plan(self, store: Any) -> RunPlan:
        return self.the_plan

    def publish(self, store: Any, plan: RunPlan) -> list[str]:
        keys = [f"{plan.model_prefix}/{name}" for name in plan.s3_files]
        self.published += keys
        return keys

    def rollback(self, store: Any, published: list[str]) -> None:
        self.rolled_back += published


class FakeStore:
    """An in-memory stand-in for drfc.adapters.s3.S3Store (the methods the training recipe uses)."""

    def __init__(self, objects: Mapping[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})

    def exists(self, key: str) -> bool:
        return key in self.objects

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.objects[key] = data

    def copy(self, source: str, target: str) -> None:
        self.objects[target] = self.objects[source]

    def prefix_is_empty(self, prefix: str) -> bool:
        return not any(k.startswith(prefix.rstrip("/") + "/") for k in self.objects)

    def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self.objects if k.startswith(prefix.rstrip("/") + "/")]
        for key in doomed:
            del self.objects[key]
        return len(doomed)


# --------------------------------------------------------------------------------------------- building blocks
def config(tmp_path: Path, **settings: str) -> Config:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "system.env").write_text("", encoding="utf-8")
    (home / "run.env").write_text("", encoding="utf-8")
    overrides = {f"DR_{k.upper()}": v for k, v in settings.items()}
    return load_config(LoadOptions(home=home, overrides=overrides, purpose="training"), environ={})


def spec(run_id: int, role: str, worker: int, ports: tuple[PortMap, ...] = ()) -> ContainerSpec:
    return ContainerSpec(
        name=f"drfc-{run_id}-{role}-{worker}",
        image="simapp:cpu",
        command=None,
        labels=labels("training", role, run_id=run_id, worker=worker, model_prefix="m"),
        ports=ports,
    )


def run_plan(run_id: int = 0, workers: int = 2, ports: tuple[PortMap, ...] = ()) -> RunPlan:
    workers_ = tuple(spec(run_id, "robomaker", w, ports) for w in range(1, workers + 1))
    containers = (spec(run_id, "trainer", 0), *workers_)
    return RunPlan(run_id, "containers", "sagemaker-local", "m", containers, {"training_params.yaml": "---\n"})


def start(
    tmp_path: Path, backend: FakeBackend, recipe: FakeRecipe, options: StartOptions = FAST, **settings: str
) -> Any:
    return start_run(config(tmp_path, **settings), backend, object(), FakeEvents(), recipe, options)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------- start
def test_a_start_deploys_every_unit_with_one_start_id_and_waits_until_all_run(tmp_path: Path) -> None:
    backend = FakeBackend(script=lambda s: Unit(s, ["created", "created", "running"]))
    recipe = FakeRecipe(run_plan(workers=3))
    events = FakeEvents()
    result = start_run(config(tmp_path), backend, object(), events, recipe, FAST)  # type: ignore[arg-type]
    assert sorted(backend.deployed()) == sorted(c.name for c in recipe.the_plan.containers)
    assert sorted(result.started) == sorted(backend.units_by_id)
    start_ids = {u.spec.labels[START_LABEL] for u in backend.units_by_id.values()}
    assert len(start_ids) == 1  # one label finds exactly what this start created
    planned = {c.name: c.labels for c in recipe.the_plan.containers}
    assert all(
        dict(u.spec.labels) == {**planned[u.spec.name], START_LABEL: u.spec.labels[START_LABEL]}
        for u in backend.units_by_id.values()
    )
    assert events.seen[-1] == dict.fromkeys((c.name for c in recipe.the_plan.containers), "running")
    assert any("created" in states.values() for states in events.seen)  # the live state was reported while waiting
    assert recipe.published == ["m/training_params.yaml"] and recipe.rolled_back == []
    assert [c for c, _ in backend.calls[:2]] == ["ensure_image", "prepare"]  # before any deploy


def test_a_run_id_in_use_is_refused_before_anything_happens(tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.add(spec(0, "robomaker", 1))
    recipe = FakeRecipe(run_plan())
    with pytest.raises(ConflictError, match="run 0 already has a training"):
        start(tmp_path, backend, recipe)
    assert backend.deployed() == [] and recipe.published == [] and len(backend.units_by_id) == 1


def test_another_run_id_does_not_conflict(tmp_path: Path) -> None:
    backend = FakeBackend()
    other = backend.add(spec(1, "robomaker", 1))
    start(tmp_path, backend, FakeRecipe(run_plan(run_id=0)))
    assert other in backend.units_by_id and len(backend.units_by_id) == 4


def test_busy_host_ports_are_refused_before_anything_happens(tmp_path: Path) -> None:
    port = free_port()
    recipe = FakeRecipe(run_plan(ports=(PortMap(8080, port),), workers=1))
    backend = FakeBackend()
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", port))
        busy.listen(1)
        with pytest.raises(ConflictError, match=str(port)):
            start(tmp_path, backend, recipe)
    assert backend.deployed() == [] and recipe.published == []
    assert ("prepare", "sagemaker-local") not in backend.calls  # not even the network


def test_a_gpu_image_without_a_gpu_runtime_is_refused_first(tmp_path: Path) -> None:
    backend = FakeBackend(gpu="Docker offers no NVIDIA runtime")
    recipe = FakeRecipe(run_plan())
    with pytest.raises(GpuUnavailableError, match="no NVIDIA runtime") as caught:
        start(tmp_path, backend, recipe, simapp_version="6.0.4-gpu")
    assert "6.0.4-cpu" in (caught.value.hint or "")
    assert backend.calls == [] and recipe.published == []
    start(tmp_path, FakeBackend(gpu="no runtime"), FakeRecipe(run_plan()))  # a CPU image does not ask


def test_a_failed_preflight_creates_nothing(tmp_path: Path) -> None:
    backend = FakeBackend()
    recipe = FakeRecipe(run_plan(), preflight_error=NotFoundError("custom files missing"))
    with pytest.raises(NotFoundError):
        start(tmp_path, backend, recipe)
    assert backend.calls == [] and recipe.published == []


def test_one_failed_deploy_removes_the_others_and_rolls_back(tmp_path: Path) -> None:
    def script(s: ContainerSpec) -> Unit | Exception:
        return (
            DockerError("creating container: no space left") if s.name.endswith("robomaker-2") else Unit(s, ["running"])
        )

    backend = FakeBackend(script=script, deploy_seconds=0.02)
    recipe = FakeRecipe(run_plan(workers=3))
    with pytest.raises(DockerError, match="no space left"):
        start(tmp_path, backend, recipe)
    assert backend.units_by_id == {}
    assert recipe.rolled_back == recipe.published == ["m/training_params.yaml"]


def test_a_unit_made_by_a_failing_deploy_is_found_by_its_start_label(tmp_path: Path) -> None:
    """A deploy that fails after the engine made the unit (e.g. a Swarm config step) returns no id."""
    backend = FakeBackend()

    def script(s: ContainerSpec) -> Unit | Exception:
        if s.role == "trainer":
            backend.add(s, "created")  # made, then the call fails
            return DockerError("copying files into the trainer failed")
        return Unit(s, ["running"])

    backend.script = script
    with pytest.raises(DockerError):
        start(tmp_path, backend, FakeRecipe(run_plan()))
    assert backend.units_by_id == {}


def test_a_unit_that_ends_during_startup_fails_with_its_last_log_lines(tmp_path: Path) -> None:
    log = (
        "\n".join(f"line {i}" for i in range(40))
        + '\n{"simapp_exception": {"message": "Model metadata does not exist"}}'
    )

    def script(s: ContainerSpec) -> Unit:
        if s.role == "trainer":
            return Unit(s, ["created", "exited"], exit_code=0, log=log)
        return Unit(s, ["created", "created", "created", "running"])

    backend = FakeBackend(script=script)
    recipe = FakeRecipe(run_plan())
    with pytest.raises(RunFailedError) as caught:
        start(tmp_path, backend, recipe)
    message = str(caught.value)
    assert "drfc-0-trainer-0 stopped during start-up (exit code 0)" in message
    assert (
        "Model metadata does not exist" in message and "line 21" in message and "line 20\n" not in message
    )  # 20 lines
    assert backend.units_by_id == {} and recipe.rolled_back == ["m/training_params.yaml"]


def test_a_unit_seen_running_for_a_moment_before_it_dies_still_fails_the_start(tmp_path: Path) -> None:
    """A container that exits at once is reported running briefly; the settle window catches it."""

    def script(s: ContainerSpec) -> Unit:
        if s.name.endswith("robomaker-1"):
            return Unit(s, ["running", "running", "running", "exited"], exit_code=3, log="cannot start")
        return Unit(s, ["running"])

    backend = FakeBackend(script=script)
    recipe = FakeRecipe(run_plan())
    with pytest.raises(RunFailedError, match=r"drfc-0-robomaker-1 stopped during start-up \(exit code 3\)"):
        start(tmp_path, backend, recipe, StartOptions(startup_timeout=2.0, poll_interval=0.01, settle=0.2))
    assert backend.units_by_id == {} and recipe.rolled_back


def test_without_a_settle_window_the_first_time_all_run_ends_the_start(tmp_path: Path) -> None:
    def script(s: ContainerSpec) -> Unit:
        return Unit(s, ["running", "exited"], exit_code=3)  # would die on the next look

    backend = FakeBackend(script=script)
    result = start(tmp_path, backend, FakeRecipe(run_plan()), StartOptions(poll_interval=0.01, settle=0.0))
    assert len(result.started) == 3


def test_units_that_never_run_time_out_and_are_removed(tmp_path: Path) -> None:
    def script(s: ContainerSpec) -> Unit:
        return Unit(s, ["pending"] if s.name.endswith("robomaker-2") else ["running"])

    backend = FakeBackend(script=script)
    recipe = FakeRecipe(run_plan())
    began = time.monotonic()
    with pytest.raises(RunFailedError, match=r"after 0s: drfc-0-robomaker-2 \(pending\)"):
        start(tmp_path, backend, recipe, StartOptions(startup_timeout=0.3, poll_interval=0.01))
    assert time.monotonic() - began < 2
    assert backend.units_by_id == {} and recipe.rolled_back


def test_ctrl_c_while_waiting_removes_everything_and_exits_130(tmp_path: Path) -> None:
    backend = FakeBackend(script=lambda s: Unit(s, ["pending"]))
    polls = 0
    original = backend.units

    def units(selector: Mapping[str, str | None]) -> list[ContainerInfo]:
        nonlocal polls
        if START_LABEL in selector:
            polls += 1
            if polls == 3:
                raise KeyboardInterrupt
        return original(selector)

    backend.units = units  # type: ignore[method-assign]
    recipe = FakeRecipe(run_plan())
    with pytest.raises(InterruptedByUser) as caught:
        start(tmp_path, backend, recipe)
    assert caught.value.exit_code == 130
    assert backend.units_by_id == {} and recipe.rolled_back == ["m/training_params.yaml"]


def test_ctrl_c_during_the_deploys_waits_for_them_and_removes_them(tmp_path: Path) -> None:
    backend = FakeBackend(deploy_seconds=1.0)  # long enough that a late timer on a busy machine still lands
    recipe = FakeRecipe(run_plan(workers=3))
    cfg = config(tmp_path)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(InterruptedByUser):
        start_run(cfg, backend, object(), FakeEvents(), recipe, FAST)  # type: ignore[arg-type]
    timer.join()
    time.sleep(1.1)  # any deploy still running would land now
    assert backend.units_by_id == {} and len(backend.deployed()) == 4
    assert recipe.rolled_back == ["m/training_params.yaml"]


def test_interrupt_while_the_pool_spawns_threads_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(deploy_seconds=0.2)
    cfg = config(tmp_path)
    original = threading.Thread.start
    fired: list[str] = []

    def start_then_signal(thread: threading.Thread) -> None:
        original(thread)
        if not fired and threading.current_thread() is threading.main_thread():
            fired.append(thread.name)
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, while the pool is adding this thread
            time.sleep(0.05)

    monkeypatch.setattr(threading.Thread, "start", start_then_signal)
    with pytest.raises(InterruptedByUser):
        start_run(cfg, backend, object(), FakeEvents(), FakeRecipe(run_plan()), FAST)  # type: ignore[arg-type]
    monkeypatch.undo()
    time.sleep(0.5)  # the orphan deploy finishes now
    assert fired and backend.units_by_id == {}


def test_a_second_ctrl_c_does_not_skip_the_cleanup(tmp_path: Path) -> None:
    backend = FakeBackend(deploy_seconds=0.5)
    recipe = FakeRecipe(run_plan())
    cfg = config(tmp_path)
    timers = [threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)) for delay in (0.1, 0.25)]
    for timer in timers:
        timer.start()
    with pytest.raises((InterruptedByUser, KeyboardInterrupt)):
        start_run(cfg, backend, object(), FakeEvents(), recipe, FAST)  # type: ignore[arg-type]
    for timer in timers:
        timer.join()
    time.sleep(0.6)
    assert backend.units_by_id == {}
    assert recipe.rolled_back == ["m/training_params.yaml"]


# --------------------------------------------------------------------------------------------- stop
def test_stop_gives_the_trainer_its_grace_and_workers_two_seconds(tmp_path: Path) -> None:
    backend = FakeBackend()
    trainer = backend.add(spec(0, "trainer", 0))
    workers = [backend.add(spec(0, "robomaker", w)) for w in (1, 2)]
    other = backend.add(spec(1, "robomaker", 1))
    stopped = stop_run(backend, 0, grace=7)
    assert sorted(u.id for u in stopped) == sorted([trainer, *workers])
    assert backend.stops == {trainer: 7, workers[0]: 2, workers[1]: 2}
    assert list(backend.units_by_id) == [other]  # run 1 untouched
    assert stop_run(backend, 0) == []  # idempotent
    assert backend.units(run_selector(1)) != []


def test_stop_finds_units_of_a_partial_start(tmp_path: Path) -> None:
    backend = FakeBackend()
    half = backend.add(spec(0, "robomaker", 3), "created")
    assert [u.id for u in stop_run(backend, 0, grace=1)] == [half]
    assert backend.units_by_id == {}


def test_stop_of_another_kind_leaves_training_alone(tmp_path: Path) -> None:
    backend = FakeBackend()
    training = backend.add(spec(0, "robomaker", 1))
    assert stop_run(backend, 0, kind="evaluation") == []
    assert training in backend.units_by_id


# --------------------------------------------------------------------------------------------- training recipe
CUSTOM = {
    "custom_files/reward_function.py": b"def reward_function(params):\n    return 1.0\n",
    "custom_files/model_metadata.json": b"{}",
    "custom_files/hyperparameters.json": b'{"batch_size": 64}',
}


def recipe_for(tmp_path: Path, uploader: Any = None, **settings: str) -> TrainingRecipe:
    return TrainingRecipe(config(tmp_path, **settings), Credentials("a", "b"), {}, upload_custom_files=uploader)


def test_training_preflight_uploads_missing_custom_files_when_it_manages_the_store(tmp_path: Path) -> None:
    store = FakeStore()
    uploads = []

    def upload(s: Any, events: Any) -> None:
        uploads.append(1)
        s.objects.update(CUSTOM)

    recipe_for(tmp_path, upload).preflight(store, FakeEvents(), FAST)  # type: ignore[arg-type]
    assert uploads == [1]
    with pytest.raises(NotFoundError, match=r"custom_files/reward_function\.py") as caught:
        recipe_for(tmp_path).preflight(FakeStore(), FakeEvents(), FAST)  # type: ignore[arg-type]
    assert "upload-custom-files" in (caught.value.hint or "")


def test_training_preflight_wipes_only_with_wipe_and_consent(tmp_path: Path) -> None:
    model = {"rl-deepracer-sagemaker/model/model_3.pb": b"x", "rl-deepracer-sagemaker-2/model/model_3.pb": b"y"}
    recipe = recipe_for(tmp_path)
    store = FakeStore({**CUSTOM, **model})
    with pytest.raises(ConflictError, match="already holds a model"):
        recipe.preflight(store, FakeEvents(), FAST)  # type: ignore[arg-type]
    with pytest.raises(AbortedError):
        recipe.preflight(store, FakeEvents(answer=False), StartOptions(wipe=True))  # type: ignore[arg-type]
    assert set(store.objects) == set(CUSTOM) | set(model)
    events = FakeEvents(answer=True)
    recipe.preflight(store, events, StartOptions(wipe=True))  # type: ignore[arg-type]
    assert set(store.objects) == set(CUSTOM) | {"rl-deepracer-sagemaker-2/model/model_3.pb"}
    assert any(s.startswith("asked:") for s in events.steps)
    store.objects["rl-deepracer-sagemaker/x"] = b"1"
    silent = FakeEvents(answer=False)
    recipe.preflight(store, silent, StartOptions(wipe=True, assume_yes=True))  # type: ignore[arg-type]
    assert "rl-deepracer-sagemaker/x" not in store.objects and not any(s.startswith("asked:") for s in silent.steps)


def test_training_preflight_checks_the_pretrained_checkpoint(tmp_path: Path) -> None:
    recipe = recipe_for(
        tmp_path, local_s3_pretrained="True", local_s3_pretrained_prefix="old", local_s3_pretrained_checkpoint="best"
    )
    store = FakeStore(CUSTOM)
    with pytest.raises(NotFoundError, match=r"old/model/deepracer_checkpoints\.json"):
        recipe.preflight(store, FakeEvents(), FAST)  # type: ignore[arg-type]
    store.objects["old/model/deepracer_checkpoints.json"] = b'{"best_checkpoint": {"name": "5_Step-900.ckpt"}}'
    with pytest.raises(NotFoundError, match=r"best checkpoint of the pretrained model old \(5_Step-900.ckpt\)"):
        recipe.preflight(store, FakeEvents(), FAST)  # type: ignore[arg-type]
    store.objects["old/model/5_Step-900.ckpt.index"] = b""
    recipe.preflight(store, FakeEvents(), FAST)  # type: ignore[arg-type]


def test_training_publish_and_rollback(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "worker-2.env").write_text("DR_WORLD_NAME=2022_march_open\n", encoding="utf-8")
    recipe = recipe_for(tmp_path, workers="2", train_multi_config="True")
    store = FakeStore({**CUSTOM, "rl-deepracer-sagemaker-2/keep": b"k"})
    plan = recipe.plan(store)  # type: ignore[arg-type]
    published = recipe.publish(store, plan)  # type: ignore[arg-type]
    assert sorted(published) == sorted(
        f"rl-deepracer-sagemaker/{name}"
        for name in ("training_params.yaml", "training_params_1.yaml", "training_params_2.yaml", "reward_function.py")
    )
    assert store.objects["rl-deepracer-sagemaker/reward_function.py"] == CUSTOM["custom_files/reward_function.py"]
    store.objects["rl-deepracer-sagemaker/model/.finished"] = b""  # a trainer wrote before it died
    recipe.rollback(store, published)  # type: ignore[arg-type]
    assert set(store.objects) == set(CUSTOM) | {"rl-deepracer-sagemaker-2/keep"}
    recipe.rollback(store, [])  # type: ignore[arg-type]  # nothing published: nothing to undo
