"""The Docker Engine, through the Docker SDK, speaking drfc types and raising drfc errors.

This is the one module that turns a ``ContainerSpec`` into SDK arguments
(``container_kwargs``). Engine failures become ``DrfcError`` subclasses with a
fix in the hint, so users never see a raw ``APIError``.
"""

from __future__ import annotations

import io
import ipaddress
import shlex
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types

from drfc.core.containers import MANAGED, ContainerInfo, ContainerSpec, PullProgress, PullReporter, choose_subnet
from drfc.errors import (
    ConflictError,
    DockerError,
    DockerUnavailableError,
    GpuUnavailableError,
    ImagePullError,
    NotFoundError,
)

ENGINE_HINT = "start the Docker Engine (e.g. `sudo systemctl start docker`) and make sure your user may use it"


def container_kwargs(spec: ContainerSpec) -> dict[str, Any]:
    """SDK ``containers.create`` arguments for ``spec``: the only place this translation happens."""
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "name": spec.name,
        "labels": dict(spec.labels),
        "environment": dict(spec.environment),
        "detach": True,
    }
    if spec.command is not None:
        kwargs["command"] = spec.command if isinstance(spec.command, str) else list(spec.command)
    if spec.hostname:
        kwargs["hostname"] = spec.hostname
    if spec.ports:
        kwargs["ports"] = {f"{p.container}/{p.protocol}": p.host for p in spec.ports}
    if spec.mounts:
        kwargs["mounts"] = [
            docker.types.Mount(target=m.target, source=m.source, type="bind", read_only=m.read_only)
            for m in spec.mounts
        ]
    if spec.gpu:
        if spec.device_ids:
            request = docker.types.DeviceRequest(device_ids=list(spec.device_ids), capabilities=[["gpu"]])
        else:
            request = docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])
        kwargs["device_requests"] = [request]
    if spec.init:
        kwargs["init"] = True
    if spec.user:
        kwargs["user"] = spec.user
    if spec.working_dir:
        kwargs["working_dir"] = spec.working_dir
    if spec.restart != "no":
        kwargs["restart_policy"] = {"Name": spec.restart}
    if spec.log_driver:
        kwargs["log_config"] = docker.types.LogConfig(type=spec.log_driver, config=dict(spec.log_options))
    if spec.network:
        kwargs["network"] = spec.network
        if spec.aliases:
            kwargs["networking_config"] = {
                spec.network: docker.types.EndpointConfig(version="1.41", aliases=list(spec.aliases))
            }
    return kwargs


def _argv(command: tuple[str, ...] | str | None) -> list[str] | None:
    if command is None:
        return None
    return shlex.split(command) if isinstance(command, str) else list(command)


def service_kwargs(
    spec: ContainerSpec,
    *,
    constraints: list[str],
    configs: list[Any],
    stop_grace: int,
) -> dict[str, Any]:
    """Low-level SDK ``create_service`` arguments for ``spec``: one replica, never restarted, ports on its node.

    Swarm has no device requests: a GPU comes from the NVIDIA runtime being the engine's default,
    and ``device_ids`` select devices through ``NVIDIA_VISIBLE_DEVICES``. Ports are published in host
    mode, so they behave as with plain containers (and need no ingress routing mesh).
    """
    env = dict(spec.environment)
    if spec.gpu:
        env.setdefault("NVIDIA_VISIBLE_DEVICES", ",".join(spec.device_ids) or "all")
    container = docker.types.ContainerSpec(
        image=spec.image,
        args=_argv(spec.command),
        hostname=spec.hostname,
        env=env,
        labels=dict(spec.labels),
        mounts=[
            docker.types.Mount(target=m.target, source=m.source, type="bind", read_only=m.read_only)
            for m in spec.mounts
        ],
        init=spec.init or None,
        user=spec.user,
        workdir=spec.working_dir,
        configs=configs or None,
        stop_grace_period=stop_grace * 1_000_000_000,
    )
    template = docker.types.TaskTemplate(
        container_spec=container,
        restart_policy=docker.types.RestartPolicy(condition="none"),
        placement=docker.types.Placement(constraints=constraints),
        log_driver=docker.types.DriverConfig(spec.log_driver, dict(spec.log_options)) if spec.log_driver else None,
        networks=(
            [docker.types.NetworkAttachmentConfig(target=spec.network, aliases=list(spec.aliases))]
            if spec.network
            else None
        ),
    )
    kwargs: dict[str, Any] = {
        "task_template": template,
        "name": spec.name,
        "labels": dict(spec.labels),
        "mode": docker.types.ServiceMode("replicated", replicas=1),
    }
    if spec.ports:
        kwargs["endpoint_spec"] = docker.types.EndpointSpec(
            ports={p.host: (p.container, p.protocol, "host") for p in spec.ports}
        )
    return kwargs


def _tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _info(container: Any) -> ContainerInfo:
    attrs = container.attrs
    state = attrs.get("State", {})
    ports: dict[int, int] = {}
    for key, bindings in (attrs.get("NetworkSettings", {}).get("Ports") or {}).items():
        if bindings:
            ports[int(key.split("/")[0])] = int(bindings[0]["HostPort"])
    exit_code = state.get("ExitCode")
    return ContainerInfo(
        id=container.id,
        name=container.name,
        image=(attrs.get("Config") or {}).get("Image", ""),
        status=state.get("Status", container.status),
        labels=(attrs.get("Config") or {}).get("Labels") or {},
        exit_code=exit_code if state.get("Status") == "exited" else None,
        started_at=state.get("StartedAt"),
        ports=ports,
    )


def _listed(item: Mapping[str, Any]) -> ContainerInfo:
    """A container as the listing shows it: no exit code, start time or ports."""
    names = item.get("Names") or [""]
    return ContainerInfo(
        id=str(item["Id"]),
        name=str(names[0]).lstrip("/"),
        image=str(item.get("Image", "")),
        status=str(item.get("State", "")),
        labels=item.get("Labels") or {},
    )


def translate(exc: Exception, what: str) -> Exception:
    """A drfc error for an SDK failure while doing ``what``."""
    text = str(exc)
    if isinstance(exc, docker.errors.ImageNotFound):
        return NotFoundError(f"{what}: image not found ({getattr(exc, 'explanation', text)})")
    if isinstance(exc, docker.errors.NotFound):
        return NotFoundError(f"{what}: {getattr(exc, 'explanation', text)}")
    lowered = text.lower()
    if "could not select device driver" in lowered or ("nvidia" in lowered and "runtime" in lowered):
        return GpuUnavailableError(
            f"{what}: the Docker Engine cannot give containers a GPU",
            hint="install the NVIDIA Container Toolkit and restart Docker, or use a -cpu simapp tag "
            "(`drfc config set DR_SIMAPP_VERSION=<version>-cpu`)",
        )
    if "port is already allocated" in lowered or "address already in use" in lowered:
        return ConflictError(f"{what}: a host port it needs is already in use ({getattr(exc, 'explanation', text)})")
    if "conflict" in lowered and "already in use" in lowered:
        return ConflictError(f"{what}: {getattr(exc, 'explanation', text)}")
    if isinstance(exc, (docker.errors.DockerException, ConnectionError)) and not isinstance(
        exc, docker.errors.APIError
    ):
        return DockerUnavailableError(f"cannot reach the Docker Engine ({text})", hint=ENGINE_HINT)
    return DockerError(f"{what}: {getattr(exc, 'explanation', None) or text}")


class DockerEngine:
    """A lazily connected Docker client with the verbs drfc needs."""

    def __init__(self, factory: Callable[[], Any] | None = None) -> None:
        self._factory = factory or (lambda: docker.from_env(timeout=120))
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                client = self._factory()
                client.ping()
            except Exception as exc:
                raise DockerUnavailableError(f"cannot reach the Docker Engine ({exc})", hint=ENGINE_HINT) from exc
            self._client = client
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def call(self, what: str, func: Callable[[], Any]) -> Any:
        """Run one SDK call, turning its failures into drfc errors that say what was being done."""
        try:
            return func()
        except (docker.errors.DockerException, ConnectionError) as exc:
            raise translate(exc, what) from exc

    # --- engine facts ------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return dict(self.call("reading engine info", self.client.info))

    def has_nvidia_runtime(self) -> bool:
        return any("nvidia" in name for name in (self.info().get("Runtimes") or {}))

    def swarm_active(self) -> bool:
        return (self.info().get("Swarm") or {}).get("LocalNodeState") == "active"

    # --- networks ------------------------------------------------------------------------------------
    def used_subnets(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        used: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for net in self.call("listing networks", self.client.networks.list):
            for conf in (net.attrs.get("IPAM") or {}).get("Config") or []:
                if conf.get("Subnet"):
                    used.append(ipaddress.ip_network(conf["Subnet"], strict=False))
        used.extend(host_routes())
        return used

    def ensure_network(self, name: str, *, overlay: bool, labels: Mapping[str, str]) -> tuple[str, bool]:
        """The network's driver, and whether it was created now.

        Plain containers can use either driver (an attachable overlay included). Swarm services need an
        overlay: a bridge left by the containers backend is recreated when nothing is attached to it.
        """
        existing = self.call("listing networks", lambda: self.client.networks.list(names=[name]))
        for net in existing:
            if net.name != name:
                continue
            driver = str(net.attrs.get("Driver", ""))
            if not overlay or driver == "overlay":
                return driver, False
            net.reload()
            attached = sorted(c.get("Name", "?") for c in (net.attrs.get("Containers") or {}).values())
            if attached:
                raise ConflictError(
                    f"the network {name} is a {driver} network, Swarm services need an overlay one, "
                    f"and {', '.join(attached)} still use(s) it",
                    hint="stop them (`drfc stop-all --storage`), then start again: drfc recreates the network",
                )
            self.call(f"removing network {name}", net.remove)
        subnet = str(choose_subnet(self.used_subnets()))
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        options: dict[str, Any] = {"driver": "overlay", "attachable": True, "scope": "swarm"} if overlay else {}
        all_labels = {
            "com.docker.compose.network": name,
            "com.docker.compose.project": name,
            MANAGED: "true",
            **labels,
        }
        self.call(
            f"creating network {name}",
            lambda: self.client.networks.create(name, ipam=ipam, labels=all_labels, check_duplicate=True, **options),
        )
        return ("overlay" if overlay else "bridge"), True

    # --- images ----------------------------------------------------------------------------------------
    def image_present(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            return False
        except (docker.errors.DockerException, ConnectionError) as exc:
            raise translate(exc, f"looking up image {ref}") from exc

    def ensure_image(self, ref: str, pulling: PullProgress) -> bool:
        """Pull ``ref`` (with a progress display from ``pulling``) unless it is here; True when pulled."""
        if self.image_present(ref):
            return False
        with pulling(ref) as reporter:
            self.pull(ref, reporter)
        return True

    def pull(self, ref: str, reporter: PullReporter | None = None) -> None:
        """Pull ``ref``, reporting bytes across layers as they arrive."""
        repository, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "latest")
        layers: dict[str, tuple[int, int]] = {}
        try:
            stream = self.client.api.pull(repository, tag=tag, stream=True, decode=True)
            for event in stream:
                if "error" in event:
                    raise ImagePullError(f"could not pull {ref}: {event['error']}", hint=_pull_hint(ref))
                detail = event.get("progressDetail") or {}
                if event.get("id") and detail.get("total"):
                    layers[event["id"]] = (int(detail.get("current", 0)), int(detail["total"]))
                if reporter is not None:
                    done = sum(c for c, _ in layers.values())
                    total = sum(t for _, t in layers.values())
                    reporter.update(done, total, str(event.get("status", "")))
        except ImagePullError:
            raise
        except (docker.errors.DockerException, ConnectionError) as exc:
            error = translate(exc, f"pulling {ref}")
            if isinstance(error, DockerUnavailableError):
                raise error from exc
            raise ImagePullError(f"could not pull {ref}: {exc}", hint=_pull_hint(ref)) from exc

    # --- containers --------------------------------------------------------------------------------
    def create(self, spec: ContainerSpec) -> str:
        container = self.call(
            f"creating container {spec.name}", lambda: self.client.containers.create(**container_kwargs(spec))
        )
        container_id = str(container.id)
        try:
            for copy in spec.files:
                self._put(container_id, copy.directory, _tar(copy.files), spec.name)
        except BaseException:
            self.remove(container_id)  # never leave a half-prepared container behind
            raise
        return container_id

    def _put(self, container_id: str, directory: str, data: bytes, name: str) -> None:
        self.call(f"copying files into {name}", lambda: self.client.api.put_archive(container_id, directory, data))

    def start(self, container_id: str) -> None:
        self.call("starting container", lambda: self.client.api.start(container_id))

    def run(self, spec: ContainerSpec, attempts: int = 4) -> str:
        """Create and start; a container that cannot start is removed again.

        Starting on an attachable overlay (left by the Swarm backend) can fail with "network ... not
        found" while this node is still tearing down its copy after the last service task left it; the
        next attempt re-creates it, so that one failure is retried briefly.
        """
        attempt = 1
        while True:
            container_id = self.create(spec)
            try:
                self.start(container_id)
                return container_id
            except Exception as exc:
                self.remove(container_id)
                network_gone = isinstance(exc, NotFoundError) and "network" in exc.message
                if not network_gone or attempt == attempts:
                    raise
            time.sleep(0.5 * attempt)
            attempt += 1

    def get(self, name_or_id: str) -> ContainerInfo | None:
        try:
            return _info(self.client.containers.get(name_or_id))
        except docker.errors.NotFound:
            return None
        except (docker.errors.DockerException, ConnectionError) as exc:
            raise translate(exc, f"inspecting {name_or_id}") from exc

    def find(self, label_filter: Mapping[str, str | None], *, detailed: bool = False) -> list[ContainerInfo]:
        """Containers (running or not) carrying every label; a None value matches any value.

        One listing gives states and labels; containers are inspected one by one only where the
        listing says too little: always when ``detailed`` (start time, ports), else only those that
        ended (exit code). A container removed in between (Swarm task containers go asynchronously)
        is skipped instead of failing the whole listing.
        """
        found = []
        for item in self._listing(label_filter):
            inspect = detailed or item.get("State") in ("exited", "dead")
            info = self.get(item["Id"]) if inspect else _listed(item)
            if info is not None:
                found.append(info)
        return found

    def ids(self, label_filter: Mapping[str, str | None]) -> list[str]:
        """Ids of the containers (running or not) carrying every label, from one listing."""
        return [str(item["Id"]) for item in self._listing(label_filter)]

    def _listing(self, label_filter: Mapping[str, str | None]) -> list[dict[str, Any]]:
        wanted = label_filters(label_filter)
        return list(
            self.call("listing containers", lambda: self.client.api.containers(all=True, filters={"label": wanted}))
        )

    def stop(self, container_id: str, timeout: int = 10) -> None:
        try:
            self.client.containers.get(container_id).stop(timeout=timeout)
        except docker.errors.NotFound:
            return
        except (docker.errors.DockerException, ConnectionError) as exc:
            raise translate(exc, "stopping container") from exc

    def remove(self, container_id: str) -> None:
        try:
            self.client.containers.get(container_id).remove(force=True, v=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if "is already in progress" in str(exc):
                return
            raise translate(exc, "removing container") from exc

    def logs(self, container_id: str, *, tail: int | str = "all", since: int | None = None) -> str:
        container = self.call("reading logs", lambda: self.client.containers.get(container_id))
        raw = self.call("reading logs", lambda: container.logs(tail=tail, since=since, stdout=True, stderr=True))
        return bytes(raw).decode("utf-8", "replace")

    def follow_logs(self, container_id: str, *, tail: int | str = "all", since: int | None = None) -> Iterator[str]:
        container = self.call("reading logs", lambda: self.client.containers.get(container_id))
        stream = self.call("reading logs", lambda: container.logs(stream=True, follow=True, tail=tail, since=since))
        yield from log_lines(stream)

    def port_owner(self, port: int) -> str | None:
        """Name of a running container publishing host ``port``, if any."""
        for container in self.call("listing containers", lambda: self.client.containers.list()):
            for bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
                for binding in bindings or []:
                    if str(binding.get("HostPort")) == str(port):
                        return str(container.name)
        return None


def label_filters(selector: Mapping[str, str | None]) -> list[str]:
    """Docker ``label`` filters for a selector: every label must be there; a None value matches any value."""
    return [key if value is None else f"{key}={value}" for key, value in selector.items()]


def log_lines(stream: Iterable[bytes]) -> Iterator[str]:
    """Whole decoded lines from a log stream whose chunks may split or join lines."""
    pending = b""
    for chunk in stream:
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def _pull_hint(ref: str) -> str:
    return (
        f"check the image name and your network; an image built locally must exist under exactly {ref} "
        "(`docker images`)"
    )


def host_routes() -> list[ipaddress.IPv4Network]:
    """Destinations of this machine's IPv4 routes (Linux), so a new network never hides a real one."""
    routes: list[ipaddress.IPv4Network] = []
    path = Path("/proc/net/route")
    try:
        lines = path.read_text().splitlines()[1:]
    except OSError:
        return routes
    for line in lines:
        parts = line.split()
        if len(parts) < 8:
            continue
        try:
            dest = ipaddress.IPv4Address(bytes.fromhex(parts[1])[::-1])
            mask = ipaddress.IPv4Address(bytes.fromhex(parts[7])[::-1])
            routes.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
        except ValueError:
            continue
    return routes
