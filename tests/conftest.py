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
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.support.s3server import S3Server

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
