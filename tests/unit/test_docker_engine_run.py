"""`DockerEngine.run`'s retry when the network a container joins is still being torn down.

The race itself (an attachable overlay this node is still removing after the last Swarm task left
it) cannot be provoked on demand on a real engine, so a scripted client stands in for the SDK here:
what is checked is the policy, namely which start failures are retried, how often, and that no
failed container is left behind.
"""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
from drfc.adapters import docker_engine
from drfc.adapters.docker_engine import DockerEngine
from drfc.core.containers import ContainerSpec
from drfc.errors import DrfcError

pytestmark = pytest.mark.unit


def engine_error(kind: type[docker.errors.APIError], explanation: str) -> docker.errors.APIError:
    """An SDK error as the engine's answer makes it (the reason is in ``explanation``)."""
    return kind("engine error", explanation=explanation)


NETWORK_GONE = engine_error(docker.errors.NotFound, "network drfc-net not found")


class ScriptedClient:
    """Creates containers c1, c2, ...; each start raises the next scripted failure (None: starts)."""

    def __init__(self, failures: list[Exception | None]) -> None:
        self.failures = failures
        self.created: list[str] = []
        self.removed: list[str] = []
        self.api = self
        self.containers = self

    def ping(self) -> bool:
        return True

    def create(self, **kwargs: Any) -> Any:
        self.created.append(f"c{len(self.created) + 1}")
        return type("Created", (), {"id": self.created[-1]})()

    def start(self, container_id: str) -> None:
        failure = self.failures.pop(0)
        if failure is not None:
            raise failure

    def get(self, container_id: str) -> Any:
        removed = self.removed
        return type("Handle", (), {"remove": lambda self, **kwargs: removed.append(container_id)})()


def run(failures: list[Exception | None], monkeypatch: pytest.MonkeyPatch) -> tuple[ScriptedClient, str | None]:
    monkeypatch.setattr(docker_engine.time, "sleep", lambda seconds: None)
    client = ScriptedClient(failures)
    spec = ContainerSpec(name="drfc-minio", image="minio/minio", command=None, labels={})
    try:
        return client, DockerEngine(lambda: client).run(spec)
    except DrfcError:
        return client, None


def test_a_start_that_finds_its_network_gone_is_retried_with_a_fresh_container(monkeypatch: pytest.MonkeyPatch) -> None:
    client, started = run([NETWORK_GONE, NETWORK_GONE, None], monkeypatch)
    assert started == "c3"
    assert client.removed == ["c1", "c2"]


def test_the_network_race_is_given_up_after_the_last_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    client, started = run([NETWORK_GONE] * 4, monkeypatch)
    assert started is None
    assert client.created == ["c1", "c2", "c3", "c4"] and client.removed == client.created


def test_any_other_start_failure_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    other = engine_error(docker.errors.APIError, "Bind for 0.0.0.0:9000 failed: port is already allocated")
    client, started = run([other, None], monkeypatch)
    assert started is None
    assert client.created == ["c1"] and client.removed == ["c1"]
    client, started = run([engine_error(docker.errors.NotFound, "no such image: minio/minio"), None], monkeypatch)
    assert started is None and client.created == ["c1"] and client.removed == ["c1"]
