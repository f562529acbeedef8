"""Training starts that go wrong, and runs that must not touch each other, on both backends.

Ctrl-C at several points of a start, containers that die while starting, two run ids side by side,
``--wipe``, ``stop-all`` next to things drfc did not start, and ``--follow all``. The start under test
is a real ``python -m drfc`` process where a signal or a stream matters; every start ends by checking
that nothing labelled is left and that the model prefix holds exactly what it should.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
from tests.support.drfc_home import SIMAPP_REPOSITORY, Home, labelled_leftovers, run_units

pytestmark = pytest.mark.docker

PREFIX = "rl-deepracer-sagemaker"
TAG = "6.0.4-cpu"
FOREIGN = "deepracer-0-robomaker-1"


# --------------------------------------------------------------------------------------------- helpers
class DrfcProcess:
    """``python -m drfc --dir HOME ...`` as a real process, its output lines collected as they come."""

    def __init__(self, home: Home, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "drfc", "--dir", str(home.path), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: dict[str, list[str]] = {"out": [], "err": []}
        for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._pump, args=(name, stream), daemon=True).start()

    def _pump(self, name: str, stream: Any) -> None:
        for line in stream:
            self.lines.put((name, line.rstrip("\n")))

    def _drain(self, timeout: float) -> tuple[str, str] | None:
        try:
            item = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        self.seen[item[0]].append(item[1])
        return item

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60) -> None:
        """Collect output until ``condition()`` holds; fail with the output when the process ended first."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline or (self.proc.poll() is not None and self.lines.empty()):
                self.proc.kill()
                raise AssertionError(f"never happened (exit {self.proc.poll()}):\n{self.stderr}\n{self.stdout}")
            self._drain(0.02)

    def wait_for_line(self, text: str, stream: str = "err", timeout: float = 60) -> None:
        self.wait_for(lambda: any(text in line for line in self.seen[stream]), timeout)

    def interrupt(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.finish(timeout)

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._drain(0.2) is not None:
            pass
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.seen["err"])

    @property
    def stdout(self) -> str:
        return "\n".join(self.seen["out"])


def keys_under(home: Home, prefix: str) -> list[str]:
    listing = home.s3().list_objects_v2(Bucket="bucket", Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents") or [])


def bucket_snapshot(home: Home) -> dict[str, bytes]:
    """Every object's bytes; one a running trainer deletes between listing and reading is left out."""
    s3 = home.s3()
    found = {}
    for key in keys_under(home, ""):
        with contextlib.suppress(s3.exceptions.NoSuchKey):
            found[key] = s3.get_object(Bucket="bucket", Key=key)["Body"].read()
    return found


def unit_states(client: docker.DockerClient, backend: str, run_id: int) -> dict[str, str]:
    """Name -> state of each unit of the run (a service's state is its newest task's)."""
    labels = {"label": ["drfc.kind=training", f"drfc.run-id={run_id}"]}
    if backend == "swarm":
        states = {}
        for service in client.services.list(filters=labels):
            tasks = service.tasks()
            newest = max(tasks, key=lambda t: t["Version"]["Index"]) if tasks else {}
            states[service.name] = (newest.get("Status") or {}).get("State", "none")
        return states
    # the low-level listing: the high-level one inspects each container and fails on one removed meanwhile
    return {c["Names"][0].lstrip("/"): c["State"] for c in client.api.containers(all=True, filters=labels)}


def labelled_units_appeared(client: docker.DockerClient, backend: str) -> bool:
    label = {"label": ["drfc.kind=training"]}
    if backend == "swarm":
        return bool(client.services.list(filters=label))
    return bool(client.api.containers(all=True, filters=label))


def assert_nothing_left(home: Home, client: docker.DockerClient, prefix: str = PREFIX) -> None:
    assert labelled_leftovers(client) == []
    assert keys_under(home, f"{prefix}/") == []


@pytest.fixture(scope="session")
def simapp_variants(docker_client: docker.DockerClient, standin_images: dict[str, str]) -> Iterator[dict[str, str]]:
    """Local images derived from the simapp stand-in (``drfc-test/simapp-<name>:6.0.4-cpu``), made offline.

    ``fail``: the trainer reports a missing model metadata file and exits, as the stand-in's
    ``STANDIN_FAIL=missing_metadata`` makes it (a second or so after it starts);
    ``broken``: every container of the image exits with code 3 at once, after one log line.
    """
    changes = {
        "fail": ["ENV STANDIN_FAIL=missing_metadata"],
        "broken": ['ENTRYPOINT ["/bin/sh", "-c", "echo standin: this image cannot start >&2; exit 3"]'],
    }
    made = {}
    for name, change in changes.items():
        container = docker_client.containers.create(f"{SIMAPP_REPOSITORY}:{TAG}")
        try:
            container.commit(f"drfc-test/simapp-{name}", TAG, changes=change)
        finally:
            container.remove(force=True)
        made[name] = f"drfc-test/simapp-{name}"
    yield made
    for repository in made.values():
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(f"{repository}:{TAG}")


@pytest.fixture
def use_variant(
    run_home: Home, simapp_variants: dict[str, str], request: pytest.FixtureRequest
) -> Callable[[str], None]:
    """Point the home's DR_SIMAPP_SOURCE at a variant (pushed to the session registry for Swarm)."""

    def use(name: str) -> None:
        source = simapp_variants[name]
        if run_home.backend == "swarm":
            registry = request.getfixturevalue("loopback_registry")
            source = registry.push(f"{source}:{TAG}", f"{source}:{TAG}").rsplit(":", 1)[0]
        run_home.ok("config", "set", f"DR_SIMAPP_SOURCE={source}")

    return use


# --------------------------------------------------------------------------------------------- Ctrl-C
def interrupt_start(
    home: Home,
    client: docker.DockerClient,
    point: str,
    reach: Callable[[DrfcProcess], None],
    *,
    may_finish_first: bool = False,
) -> str | None:
    """Start a run, send SIGINT once ``reach`` returns; assert exit 130 and that nothing is left.

    With ``may_finish_first``, a start that completed before the signal landed (a race the test cannot
    close from outside) is stopped again and reported as None instead of failing.
    """
    start = DrfcProcess(home, "start-training", "--follow", "none")
    reach(start)
    code = start.interrupt()
    if may_finish_first and code == 0 and "is training" in start.stderr:
        home.ok("stop-training", "--grace", "1")
        s3 = home.s3()
        for key in keys_under(home, f"{PREFIX}/"):  # what the finished run wrote, so the next start may run
            s3.delete_object(Bucket="bucket", Key=key)
        return None
    assert code == 130, f"{point}: exit {code}\n{start.stderr}"
    assert "interrupted" in start.stderr and "Traceback" not in start.stderr, point
    assert labelled_leftovers(client) == [], point
    assert keys_under(home, f"{PREFIX}/") == [], point  # the start rolled back what it published
    return start.stderr


def test_sigint_at_any_point_of_a_start_leaves_nothing(run_home: Home, docker_client: docker.DockerClient) -> None:
    home = run_home
    # a large extra custom file keeps the first start busy uploading for a while
    (home.path / "custom_files" / "track-notes.bin").write_bytes(os.urandom(48 * 1024 * 1024))
    err = interrupt_start(home, docker_client, "upload", lambda p: p.wait_for_line("uploading custom_files"))
    assert "container(s) for run" not in err, "the signal came too late to test an interrupted upload"

    def unit_exists(p: DrfcProcess) -> None:
        p.wait_for(lambda: labelled_units_appeared(docker_client, home.backend))

    interrupt_start(home, docker_client, "once the first unit exists", unit_exists)

    def some_unit_runs(p: DrfcProcess) -> None:
        p.wait_for(lambda: "running" in unit_states(docker_client, home.backend, 0).values())

    err = interrupt_start(home, docker_client, "while waiting for every unit to run", some_unit_runs)
    assert "is training" not in err, "the signal came too late: the start had already succeeded"

    home.ok("start-training", "--follow", "none")  # and a start after all that works
    home.ok("stop-training", "--grace", "1")
    assert labelled_leftovers(docker_client) == []


def test_sigint_as_the_launch_begins_leaves_nothing(run_home: Home, docker_client: docker.DockerClient) -> None:
    run_home.ok("storage", "start")
    run_home.ok("upload-custom-files")
    interrupted = 0
    for attempt in range(5):
        point = f"as the launch begins ({attempt})"
        if interrupt_start(
            run_home, docker_client, point, lambda p: p.wait_for_line("container(s) for"), may_finish_first=True
        ):
            interrupted += 1
    assert interrupted >= 3, "the signal came too late in most attempts to test an interrupted launch"


# --------------------------------------------------------------------------------------------- start-up failures
def test_a_container_that_cannot_start_fails_the_start_with_its_log(
    run_home: Home, docker_client: docker.DockerClient, use_variant: Callable[[str], None]
) -> None:
    use_variant("broken")
    result = run_home.run("start-training", "--follow", "none")
    assert result.exit_code == 30, result.stderr
    assert "stopped during start-up" in result.stderr and "(exit code 3)" in result.stderr
    assert "drfc-0-" in result.stderr  # names the container
    assert "standin: this image cannot start" in result.stderr  # and shows its last log lines
    assert_nothing_left(run_home, docker_client)


def test_a_trainer_failing_after_start_fails_the_followed_start_with_its_cause(
    run_home: Home, docker_client: docker.DockerClient, use_variant: Callable[[str], None]
) -> None:
    """Start-up ends once every unit runs; a trainer that fails later is caught by the default follow.

    The stand-in fails about a second after it starts, so either path may happen; both exit 30 with the cause.
    """
    use_variant("fail")
    try:
        result = run_home.run("start-training")  # --follow sagemaker, the default
        assert result.exit_code == 30, result.stderr
        if "is training" in result.stderr:  # all ran first: the follow saw the trainer fail
            assert "the trainer reported: Model metadata does not exist" in result.stderr
            assert "simapp_exception" in result.stdout  # the followed log showed it as it happened
        else:  # it failed before every unit ran: a start-up failure, with its log
            assert "stopped during start-up" in result.stderr and "Model metadata does not exist" in result.stderr
            assert labelled_leftovers(docker_client) == []
    finally:
        run_home.run("stop-training", "--grace", "1")
    assert labelled_leftovers(docker_client) == []


@pytest.mark.parametrize("backend", ["swarm"], indirect=True)
def test_a_swarm_task_container_that_ended_here_counts_as_ended_before_swarm_says_so(
    run_home: Home, docker_client: docker.DockerClient
) -> None:
    """Start-up failures and follows see a task's end from this node's engine, not ~0.1 s+ later from Swarm."""
    from drfc.adapters.docker_engine import DockerEngine
    from drfc.adapters.docker_swarm import SwarmBackend
    from drfc.core.runs import ENDED, run_selector

    run_home.ok("start-training", "--follow", "none")
    try:
        backend = SwarmBackend(DockerEngine())
        (worker,) = [u for u in backend.units(run_selector(0)) if u.role == "robomaker"]
        assert worker.running
        (task,) = docker_client.containers.list(filters={"label": f"com.docker.swarm.service.id={worker.id}"})
        task.kill()  # SIGKILL: exit code 137
        while docker_client.api.inspect_container(task.id)["State"]["Status"] == "running":
            time.sleep(0.005)
        (seen,) = [u for u in backend.units(run_selector(0)) if u.role == "robomaker"]
        assert seen.status in ENDED and seen.exit_code == 137, seen
    finally:
        run_home.ok("stop-training", "--grace", "1")
    assert labelled_leftovers(docker_client) == []


# --------------------------------------------------------------------------------------------- isolation
def test_two_run_ids_side_by_side_stay_isolated(run_home: Home, docker_client: docker.DockerClient) -> None:
    home = run_home
    other = ("--set", "DR_RUN_ID=1", "--set", f"DR_LOCAL_S3_MODEL_PREFIX={PREFIX}-run1")
    home.ok("start-training", "--follow", "none")
    home.ok(*other, "start-training", "--follow", "none")
    try:
        zero = {u["name"]: u for u in run_units(docker_client, home.backend, run_id=0)}
        one = {u["name"]: u for u in run_units(docker_client, home.backend, run_id=1)}
        assert len(zero) == len(one) == 2 and not set(zero) & set(one)
        for run_id, units, prefix in ((0, zero, PREFIX), (1, one, f"{PREFIX}-run1")):
            assert {u["labels"]["drfc.model-prefix"] for u in units.values()} == {prefix}
            worker = next(u for u in units.values() if u["labels"]["drfc.role"] == "robomaker")
            assert worker["ports"]["8080"] == 8080 + run_id
            assert worker["env"]["SAGEMAKER_SHARED_S3_PREFIX"] == prefix
            assert f"{prefix}/training_params.yaml" in keys_under(home, f"{prefix}/")

        stopped = home.json("stop-training", "--grace", "1")
        assert {u["name"] for u in stopped["stopped"]} == set(zero)
        assert run_units(docker_client, home.backend, run_id=0) == []
        assert unit_states(docker_client, home.backend, 1) == dict.fromkeys(one, "running")
        assert keys_under(home, f"{PREFIX}-run1/")  # stopping run 0 touched nothing of run 1
    finally:
        home.run(*other, "stop-training", "--grace", "1")
    assert labelled_leftovers(docker_client) == []


def test_wipe_removes_only_the_run_prefix(run_home: Home, docker_client: docker.DockerClient) -> None:
    home = run_home
    home.ok("storage", "start")
    home.ok("upload-custom-files")
    s3 = home.s3()
    for key in (
        f"{PREFIX}/model/model_7.pb",  # the run's prefix: goes
        f"{PREFIX}-2/model/model_7.pb",  # shares the leading string: stays
        f"{PREFIX}-2/training_params.yaml",
        f"{PREFIX}.notes",
    ):
        s3.put_object(Bucket="bucket", Key=key, Body=f"content of {key}".encode())
    before = bucket_snapshot(home)

    asked = home.run("start-training", "--wipe", "--follow", "none")  # no terminal to ask on, no -f
    assert asked.exit_code == 7 and "was not wiped" in asked.stderr
    assert bucket_snapshot(home) == before and labelled_leftovers(docker_client) == []

    wiped = home.run("start-training", "--wipe", "-f", "--follow", "none")
    try:
        assert wiped.exit_code == 0, wiped.stderr
        assert f"wiping s3://bucket/{PREFIX}/" in wiped.stderr
        after = bucket_snapshot(home)
        untouched = {k: v for k, v in before.items() if not k.startswith(f"{PREFIX}/")}
        assert {k: after.get(k) for k in untouched} == untouched  # byte-identical, custom files included
        assert any(k.startswith("custom_files/") for k in untouched)
        assert f"{PREFIX}/model/model_7.pb" not in after
        assert f"{PREFIX}/training_params.yaml" in after
    finally:
        home.run("stop-training", "--grace", "1")


# --------------------------------------------------------------------------------------------- stop-all
def test_stop_all_stops_only_what_drfc_labelled(
    run_home: Home, docker_client: docker.DockerClient, request: pytest.FixtureRequest
) -> None:
    home = run_home
    home.ok("start-training", "--follow", "none")
    planned = {u["name"] for u in run_units(docker_client, home.backend)}
    # named and labelled like a DRfC compose project: DRfC's stop would remove it, drfc must not
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.containers.get(FOREIGN).remove(force=True)
    foreign = docker_client.containers.run(
        f"{SIMAPP_REPOSITORY}:{TAG}",
        ["sleep 300"],  # the image's entry point is `bash -c`
        name=FOREIGN,
        labels={"com.docker.compose.project": "deepracer-0"},
        detach=True,
    )
    service = None
    try:
        if home.backend == "swarm":
            source = request.getfixturevalue("swarm_simapp")
            service = docker_client.services.create(
                f"{source}:{TAG}", ["sleep", "300"], name=FOREIGN.replace("-robomaker", "_robomaker")
            )
        stopped = home.json("stop-all", "--grace", "1")
        assert {u["name"] for u in stopped["stopped"]} == planned
        assert labelled_leftovers(docker_client) == []
        foreign.reload()
        assert foreign.status == "running"
        if service is not None:
            assert docker_client.services.get(service.id).name == "deepracer-0_robomaker-1"
        again = home.ok("stop-all")
        assert "no drfc run is running" in again.stderr
    finally:
        foreign.remove(force=True)
        if service is not None:
            service.remove()


def test_stop_all_of_plain_containers_on_a_swarm_manager_is_prompt(
    home: Home, docker_client: docker.DockerClient
) -> None:
    if not docker_client.info().get("Swarm", {}).get("ControlAvailable"):
        pytest.skip("only a Swarm manager has both backends to stop")
    labels = {"drfc.managed": "true", "drfc.kind": "training", "drfc.role": "robomaker", "drfc.run-id": "5"}
    docker_client.containers.run(f"{SIMAPP_REPOSITORY}:{TAG}", ["sleep 300"], labels=labels, detach=True)
    stop = DrfcProcess(home, "stop-all", "--grace", "1")
    try:
        assert stop.finish(timeout=10) == 0, stop.stderr
    except subprocess.TimeoutExpired:
        stop.proc.kill()
        raise AssertionError("stop-all of one plain container took more than 10 s") from None
    assert labelled_leftovers(docker_client) == []


# --------------------------------------------------------------------------------------------- --follow all
def test_follow_all_interleaves_logs_prefixed_by_name(run_home: Home, docker_client: docker.DockerClient) -> None:
    home = run_home
    home.ok("config", "set", "DR_WORKERS=2")
    follow = DrfcProcess(home, "start-training", "--follow", "all")
    try:
        follow.wait_for_line("following", timeout=120)
        names = {u["name"] for u in run_units(docker_client, home.backend)}
        assert len(names) == 3

        def every_unit_spoke() -> bool:
            prefixes = {line.split(" | ", 1)[0].strip() for line in follow.seen["out"] if " | " in line}
            return names <= prefixes  # (the trainer's first lines may be beyond the 50-line tail)

        follow.wait_for(every_unit_spoke, timeout=60)
        code = follow.interrupt()
        assert code == 0, follow.stderr
        assert "stopped following; the run goes on" in follow.stderr
        width = max(map(len, names))
        prefixed = [line for line in follow.seen["out"] if line[:width].strip() in names]
        assert prefixed == follow.seen["out"]  # every line names its unit, padded to one width
        assert all(line[width : width + 3] == " | " for line in prefixed)
        assert set(unit_states(docker_client, home.backend, 0).values()) == {"running"}  # the run goes on
    finally:
        if follow.proc.poll() is None:
            follow.proc.kill()
        home.run("stop-training", "--grace", "1")
    assert labelled_leftovers(docker_client) == []
