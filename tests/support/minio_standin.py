"""Starting the MinIO stand-in image in a test and waiting until it serves S3."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

import docker
import pytest


def http_status(url: str) -> int:
    """HTTP status of a GET to ``url`` (error statuses too); raises when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def run_minio(
    client: docker.DockerClient,
    image: str,
    *,
    name: str,
    network: str,
    user: str,
    password: str,
    labels: dict[str, str],
    ports: dict[str, tuple[str, int]],
    **kwargs: Any,
) -> Any:
    """A detached MinIO (console on :9001) reachable as ``minio`` on ``network``, as drfc runs it."""
    return client.containers.run(
        image,
        ["server", "/data", "--console-address", ":9001"],
        name=name,
        detach=True,
        labels=labels,
        environment={"MINIO_ROOT_USER": user, "MINIO_ROOT_PASSWORD": password},
        ports=ports,
        network=network,
        networking_config={network: client.api.create_endpoint_config(aliases=["minio"])},
        **kwargs,
    )


def wait_live(container: Any, port: int, timeout: float = 60.0) -> None:
    """Return once MinIO's liveness endpoint on 127.0.0.1:``port`` answers 200; fail with its log otherwise."""
    url = f"http://127.0.0.1:{port}/minio/health/live"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            pytest.fail(f"MinIO stand-in exited:\n{container.logs().decode()}")
        try:
            if http_status(url) == 200:
                return
        except OSError:  # URLError and ConnectionError are OSErrors
            pass
        time.sleep(0.2)
    pytest.fail(f"MinIO stand-in not live on {url} after {timeout}s:\n{container.logs().decode()}")
