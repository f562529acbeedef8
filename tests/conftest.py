"""Test tiers and the shared real components (S3 server, Docker Engine).

Tiers are markers: ``unit``, ``functional``, ``integration`` (+ ``s3``, ``docker``,
``swarm``, ``gpu`` for what an integration test needs). A test's tier is taken
from its folder when it carries no tier marker.

Outside CI a component that cannot start skips its tests with the reason.
Under ``CI=true`` that is a failure: CI must never pass by skipping the real tier.
The GPU tier is the exception: no CI machine has a GPU, so it always skips there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.s3server import S3Server

pytest_plugins = ["tests.support.drfc_home"]

if TYPE_CHECKING:
    import docker

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        tier = parts[0] if parts else ""
        if tier in {"unit", "functional", "integration"} and not item.get_closest_marker(tier):
            item.add_marker(getattr(pytest.mark, tier))


@cache
def docker_problem() -> str | None:
    """Why the Docker Engine cannot be used, or None when it can."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except Exception as exc:  # any failure means "no usable engine"
        return f"Docker Engine not reachable: {exc}"
    return None


@cache
def swarm_problem() -> str | None:
    problem = docker_problem()
    if problem:
        return problem
    import docker

    client = docker.from_env(timeout=10)
    try:
        state = client.info().get("Swarm", {}).get("LocalNodeState")
    finally:
        client.close()
    if state != "active":
        return f"Docker Engine is not a swarm manager (state: {state}); run `docker swarm init`"
    return None


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and a required component is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu"):
        pytest.skip("needs an NVIDIA GPU; none on this machine")
    if item.get_closest_marker("docker") and (problem := docker_problem()):
        _unavailable(problem)
    if item.get_closest_marker("swarm") and (problem := swarm_problem()):
        _unavailable(problem)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One real S3 server (moto, HTTP, loopback) for the whole session."""
    server = S3Server()
    try:
        server.start()
    except Exception as exc:
        _unavailable(f"S3 server (moto server mode) could not start: {exc}")
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """The session S3 server, emptied, with standard AWS variables pointing at it."""
    s3_server.reset()
    for key, value in s3_server.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield s3_server


# --------------------------------------------------------------------------- Docker Engine and stand-in images

STANDIN_SCRIPT = ROOT / "scripts" / "build-standin-images"
STANDIN_HASH_LABEL = "drfc.standin.hash"
DRFC_LABEL_PREFIX = "drfc."


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A Docker SDK client for the local engine (skips, or fails under CI, when there is none)."""
    if problem := docker_problem():
        _unavailable(problem)
    import docker

    client = docker.from_env(timeout=120)
    yield client
    client.close()


def _standin_listing() -> list[tuple[str, str, str]]:
    """(name, tag, expected hash) of every stand-in image, without building anything."""
    result = subprocess.run(
        [sys.executable, str(STANDIN_SCRIPT), "--list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = [line.split("\t") for line in result.stdout.splitlines() if line.strip()]
    return [(name, tag, digest) for name, tag, digest in rows]


def _stale_standins(client: docker.DockerClient, listing: list[tuple[str, str, str]]) -> list[str]:
    import docker

    stale = []
    for name, tag, digest in listing:
        try:
            labels = client.images.get(tag).labels or {}
        except docker.errors.ImageNotFound:
            labels = {}
        if labels.get(STANDIN_HASH_LABEL) != digest:
            stale.append(name)
    return stale


@pytest.fixture(scope="session")
def standin_images(docker_client: docker.DockerClient) -> dict[str, str]:
    """Stand-in image tags by name (``base``, ``minio``, ...), built first when missing or out of date.

    ``scripts/test`` builds them before pytest starts, so this normally only checks their labels.
    """
    listing = _standin_listing()
    if stale := _stale_standins(docker_client, listing):
        result = subprocess.run(
            [sys.executable, str(STANDIN_SCRIPT)],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        if result.returncode != 0 or _stale_standins(docker_client, listing):
            tail = "\n".join(result.stderr.splitlines()[-20:])
            _unavailable(
                f"stand-in images {', '.join(stale)} could not be built "
                f"(scripts/build-standin-images exited {result.returncode}):\n{tail}"
            )
    return {name: tag for name, tag, _ in listing}


def has_drfc_label(labels: dict[str, str] | None) -> bool:
    return any(key.startswith(DRFC_LABEL_PREFIX) for key in labels or {})


class DockerLeftovers:
    """Remembers which Docker objects exist, then removes the new ones that carry a ``drfc.*`` label.

    Covers services, configs, containers (a container also carries its image's labels, so one made from a
    stand-in image counts), networks and volumes. Objects that existed at the snapshot, such as those
    of session-scoped fixtures, are never touched. Note: another test run against the same engine at
    the same time could lose its objects; CI runs one suite per engine.
    """

    KINDS = ("service", "config", "container", "network", "volume")

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.known = self._inventory()

    def _inventory(self) -> dict[str, dict[str, dict[str, str]]]:
        import docker

        api = self.client.api
        found: dict[str, dict[str, dict[str, str]]] = {kind: {} for kind in self.KINDS}
        try:
            for service in api.services():
                found["service"][service["ID"]] = service.get("Spec", {}).get("Labels") or {}
            for config in api.configs():
                found["config"][config["ID"]] = config.get("Spec", {}).get("Labels") or {}
        except docker.errors.APIError:
            pass  # not a swarm manager: no services, no configs
        for container in api.containers(all=True):
            found["container"][container["Id"]] = container.get("Labels") or {}
        for network in api.networks():
            found["network"][network["Id"]] = network.get("Labels") or {}
        for volume in api.volumes().get("Volumes") or []:
            found["volume"][volume["Name"]] = volume.get("Labels") or {}
        return found

    def _network_lingers(self, ident: str) -> bool:
        import docker

        try:
            self.client.api.inspect_network(ident)
        except docker.errors.NotFound:
            return False
        return True

    def new_objects(self) -> dict[str, list[str]]:
        """Ids of the ``drfc.*``-labelled objects created since the snapshot, by kind."""
        now = self._inventory()
        return {
            kind: [
                ident for ident, labels in now[kind].items() if ident not in self.known[kind] and has_drfc_label(labels)
            ]
            for kind in self.KINDS
        }

    def remove_new(self, timeout: float = 60.0) -> dict[str, list[str]]:
        """Remove what :meth:`new_objects` finds; raise if something is still there after ``timeout``."""
        import docker

        api = self.client.api
        removed = self.new_objects()
        deadline = time.monotonic() + timeout

        def attempt(action: Any, *args: Any, **kwargs: Any) -> None:
            try:
                action(*args, **kwargs)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                if time.monotonic() > deadline:
                    raise

        for ident in removed["service"]:
            attempt(api.remove_service, ident)
        while removed["service"] and time.monotonic() < deadline:
            # A service's task containers go away after the service, asynchronously.
            tasks = api.containers(all=True, filters={"label": "com.docker.swarm.service.id"})
            if not any(task["Labels"]["com.docker.swarm.service.id"] in removed["service"] for task in tasks):
                break
            time.sleep(0.5)
        for ident in self.new_objects()["container"]:
            attempt(api.remove_container, ident, force=True, v=True)
        for kind, remove in (
            ("config", api.remove_config),
            ("network", api.remove_network),
            ("volume", api.remove_volume),
        ):
            while (pending := self.new_objects()[kind]) and time.monotonic() < deadline:
                for ident in pending:
                    attempt(remove, ident)
                if self.new_objects()[kind]:
                    time.sleep(0.5)
        # A removed swarm-scoped network can linger on this node a moment after the manager dropped it;
        # a container created by name meanwhile would resolve to the dying one ("network ... not found").
        while time.monotonic() < deadline and any(self._network_lingers(ident) for ident in removed["network"]):
            time.sleep(0.2)
        left = {kind: idents for kind, idents in self.new_objects().items() if idents}
        if left:
            raise RuntimeError(f"drfc-labelled Docker objects the test left could not be removed: {left}")
        return removed


@pytest.fixture
def docker_cleanup(docker_client: docker.DockerClient) -> Iterator[DockerLeftovers]:
    """Removes, at teardown, every ``drfc.*``-labelled Docker object the test created."""
    leftovers = DockerLeftovers(docker_client)
    yield leftovers
    leftovers.remove_new()


@pytest.fixture(autouse=True)
def _docker_cleanup_for_docker_tests(request: pytest.FixtureRequest) -> None:
    """Every ``docker``/``swarm`` test gets :func:`docker_cleanup` without asking for it."""
    if request.node.get_closest_marker("docker") or request.node.get_closest_marker("swarm"):
        request.getfixturevalue("docker_cleanup")
