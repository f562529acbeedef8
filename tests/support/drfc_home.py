"""A DRfC home on the real engine for CLI integration tests, with exclusive use of host port 9000.

Host port 9000 is global: ``port_9000`` serialises the tests that run the managed MinIO (a lock file
shared by every test process on this machine), removes a ``drfc-minio`` container left from before,
and always removes the one it started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest
from click.testing import CliRunner, Result
from drfc.cli.main import cli

CONTAINER = "drfc-minio"
HOST_ENDPOINT = "http://localhost:9000"
LOCK_FILE = Path(tempfile.gettempdir()) / "drfc-tests-port-9000.lock"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def remove_managed_minio(client: docker.DockerClient) -> None:
    """Remove the drfc-minio container, by name or by drfc's storage labels, whoever started it."""
    found = {c.id: c for c in client.containers.list(all=True, filters={"name": f"^/{CONTAINER}$"})}
    labelled = client.containers.list(all=True, filters={"label": ["drfc.kind=storage", "drfc.role=minio"]})
    found.update({c.id: c for c in labelled})
    for container in found.values():
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)


@pytest.fixture
def port_9000(docker_client: docker.DockerClient) -> Iterator[None]:
    """Exclusive use of host port 9000 and of the drfc-minio container for one test."""
    LOCK_FILE.touch(exist_ok=True)
    with open(LOCK_FILE, "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process on this machine waits here
        try:
            remove_managed_minio(docker_client)
            deadline = time.monotonic() + 10
            while port_answers(9000) and time.monotonic() < deadline:
                time.sleep(0.2)  # docker-proxy of a just-removed container may linger briefly
            if port_answers(9000):
                reason = "host port 9000 is in use by something other than drfc's MinIO container"
                if IN_CI:
                    pytest.fail(reason, pytrace=False)
                pytest.skip(reason)
            yield
        finally:
            remove_managed_minio(docker_client)
            fcntl.flock(lock, fcntl.LOCK_UN)


def profile_keys(credentials: Path, profile: str = "minio") -> tuple[str, str]:
    import configparser

    parser = configparser.RawConfigParser()
    parser.read(credentials, encoding="utf-8")
    return parser.get(profile, "aws_access_key_id"), parser.get(profile, "aws_secret_access_key")


class DrfcCli:
    """``drfc --dir <path>`` through Click's CliRunner, for test homes that have ``path`` and ``runner``."""

    path: Path
    runner: CliRunner

    def run(self, *args: str) -> Result:
        result = self.runner.invoke(cli, ["--dir", str(self.path), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        assert "Traceback" not in result.output
        return result

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)


@dataclass
class Home(DrfcCli):
    path: Path
    credentials: Path
    runner: CliRunner = field(default_factory=CliRunner)
    backend: str = "containers"

    @property
    def keys(self) -> tuple[str, str]:
        return profile_keys(self.credentials)

    def s3(self) -> Any:
        access, secret = self.keys
        return boto3.client(
            "s3",
            endpoint_url=HOST_ENDPOINT,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            region_name="us-east-1",
        )


def local_tree(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def isolate_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No host AWS files, DR_* variables or cache; returns the credentials file drfc will read."""
    for name in list(os.environ):
        if name.startswith("DR_") or (name.startswith("AWS_") and name != "AWS_EC2_METADATA_DISABLED"):
            monkeypatch.delenv(name)
    credentials = tmp_path / "aws" / "credentials"
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws" / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no wrapped or truncated keys
    monkeypatch.delenv("CI", raising=False)  # nothing in drfc depends on it; keep output plain
    return credentials


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, standin_images: dict[str, str], port_9000: None) -> Home:
    credentials = isolate_environment(tmp_path, monkeypatch)
    made = Home(tmp_path / "home", credentials)
    made.ok("init", "--cpu")
    assert credentials.is_file(), "drfc init creates the minio profile for the local store"
    assert standin_images["minio"] == "minio/minio:drfc-standin"
    made.ok("config", "set", "DR_MINIO_IMAGE=drfc-standin")
    assert made.ok("config", "get", "DR_MINIO_IMAGE").stdout.strip() == "drfc-standin"
    return made


SIMAPP_REPOSITORY = "awsdeepracercommunity/deepracer-simapp"


@pytest.fixture(scope="session")
def loopback_registry(docker_client: docker.DockerClient, standin_images: dict[str, str]) -> Iterator[Any]:
    """A loopback docker-registry for the session: Swarm resolves every service image in a registry."""
    from tests.conftest import _unavailable, swarm_problem
    from tests.support.registry import LoopbackRegistry

    if problem := swarm_problem():
        _unavailable(problem)
    registry = LoopbackRegistry()
    try:
        registry.start()
    except Exception as exc:
        registry.stop()
        _unavailable(f"the loopback registry for Swarm could not be prepared: {exc}")
    yield registry
    for ref in registry.pushed:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.images.remove(ref)
    registry.stop()


@pytest.fixture(scope="session")
def swarm_simapp(loopback_registry: Any) -> str:
    """``DR_SIMAPP_SOURCE`` for Swarm: the simapp stand-ins pushed to the loopback registry for the session."""
    from tests.conftest import _unavailable

    try:
        for tag in ("6.0.4-cpu", "6.0.4-gpu"):
            loopback_registry.push(f"{SIMAPP_REPOSITORY}:{tag}", f"{SIMAPP_REPOSITORY}:{tag}")
    except Exception as exc:
        _unavailable(f"the simapp stand-ins could not be pushed to the loopback registry: {exc}")
    return f"{loopback_registry.host}/{SIMAPP_REPOSITORY}"


@pytest.fixture(params=["containers", pytest.param("swarm", marks=pytest.mark.swarm)])
def backend(request: pytest.FixtureRequest) -> str:
    """Both backends: a test using it runs once with plain containers and once with Swarm services."""
    return str(request.param)


@pytest.fixture
def run_home(home: Home, backend: str, request: pytest.FixtureRequest) -> Home:
    """The README's default home, set to ``backend`` (Swarm pulls the simapp from the loopback registry)."""
    if backend == "swarm":
        source = request.getfixturevalue("swarm_simapp")
        home.ok("config", "set", "DR_DOCKER_STYLE=swarm", f"DR_SIMAPP_SOURCE={source}")
    home.backend = backend
    return home


def run_units(
    client: docker.DockerClient, backend: str, kind: str = "training", run_id: int = 0
) -> list[dict[str, Any]]:
    """The run's containers or services as the engine reports them, in one shape for both backends."""
    labels = [f"drfc.kind={kind}", f"drfc.run-id={run_id}"]
    if backend == "swarm":
        found = []
        for service in client.services.list(filters={"label": labels}):
            spec = service.attrs["Spec"]
            container = spec["TaskTemplate"]["ContainerSpec"]
            found.append(
                {
                    "name": service.name,
                    "env": dict(item.split("=", 1) for item in container.get("Env") or []),
                    "labels": spec.get("Labels") or {},
                    "ports": {
                        str(p["TargetPort"]): p["PublishedPort"]
                        for p in (spec.get("EndpointSpec") or {}).get("Ports") or []
                    },
                    "init": bool(container.get("Init")),
                }
            )
        return found
    found = []
    for c in client.containers.list(all=True, filters={"label": labels}):
        attrs = c.attrs
        found.append(
            {
                "name": c.name,
                "env": dict(item.split("=", 1) for item in attrs["Config"]["Env"] or []),
                "labels": attrs["Config"]["Labels"] or {},
                "ports": {
                    key.split("/")[0]: int(v[0]["HostPort"])
                    for key, v in (attrs["HostConfig"]["PortBindings"] or {}).items()
                },
                "init": bool(attrs["HostConfig"].get("Init")),
            }
        )
    return found


def wait_for_key(s3: Any, key: str, timeout: float = 90) -> None:
    """Until an object whose key starts with ``key`` is in the test bucket (the run writes it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if s3.list_objects_v2(Bucket="bucket", Prefix=key).get("KeyCount", 0):
            return
        time.sleep(0.5)
    raise AssertionError(f"{key} never appeared")


def labelled_leftovers(client: docker.DockerClient, kind: str = "training") -> list[str]:
    """Every object of this kind drfc would have labelled: containers, services and configs."""
    label = {"label": [f"drfc.kind={kind}"]}
    names = [c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters=label)]  # no inspect races
    if client.info().get("Swarm", {}).get("ControlAvailable"):
        names += [s.name for s in client.services.list(filters=label)]
        names += [c.name for c in client.configs.list(filters=label)]
    return names
