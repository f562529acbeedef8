"""The Swarm backend: one single-replica service per unit (the trainer, each Robomaker worker).

Services are placed by node labels as DRfC does (``Sagemaker`` for the trainer,
``Robomaker`` for workers), never restarted, and publish their ports in host
mode on the node they run on. The trainer's config files travel as Swarm
configs, since a service cannot have files copied in before it starts. Every
service, config and task container carries the spec's ``drfc.*`` labels.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import docker.errors
import docker.types

from drfc.adapters.docker_engine import (
    DockerEngine,
    label_filters,
    log_lines,
    service_kwargs,
    translate,
)
from drfc.core.containers import ContainerInfo, ContainerSpec, PullProgress
from drfc.core.plan import RunPlan
from drfc.core.runs import ENDED
from drfc.errors import DockerError, NotFoundError

#: Node label each role is placed by, as in DRfC's swarm compose files.
PLACEMENT = {"trainer": "Sagemaker", "robomaker": "Robomaker"}
SERVICE_ID = "com.docker.swarm.service.id"


def _states(task: Mapping[str, Any]) -> tuple[str, int | None, str | None, str | None]:
    status = task.get("Status") or {}
    state = str(status.get("State", "pending"))
    exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
    error = status.get("Err")
    if error and error.startswith("task: non-zero exit"):
        error = None  # says no more than the exit code
    return state, exit_code, error, status.get("Timestamp")


class SwarmBackend:
    kind = "swarm"

    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine

    @property
    def client(self) -> Any:
        return self.engine.client

    # --- pre-flight ------------------------------------------------------------------------------------
    def gpu_problem(self) -> str | None:
        default = self.engine.info().get("DefaultRuntime", "runc")
        if default == "nvidia":
            return None
        return f"Swarm services get a GPU only when nvidia is Docker's default runtime (it is {default!r})"

    def ensure_image(self, ref: str, pulling: PullProgress) -> bool:
        return self.engine.ensure_image(ref, pulling)

    def prepare(self, plan: RunPlan, step: Callable[[str], None]) -> None:
        info = self.engine.info()
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise DockerError(
                "DR_DOCKER_STYLE=swarm, but this Docker Engine is not a Swarm manager",
                hint="run `docker swarm init` (or join as a manager), or set DR_DOCKER_STYLE=containers",
            )
        self._label_nodes({PLACEMENT[c.role] for c in plan.containers if c.role in PLACEMENT}, swarm, step)
        self._ensure_overlay(plan.network, step)

    def _label_nodes(self, wanted: set[str], swarm: Mapping[str, Any], step: Callable[[str], None]) -> None:
        """Give this node the placement labels no node carries yet (as `drfc init` of DRfC does)."""
        nodes = self.engine.call("listing swarm nodes", self.client.nodes.list)
        missing = sorted(
            label for label in wanted if not any(n.attrs["Spec"].get("Labels", {}).get(label) == "true" for n in nodes)
        )
        if not missing:
            return
        node = self.engine.call("reading this node", lambda: self.client.nodes.get(swarm.get("NodeID")))
        spec = dict(node.attrs["Spec"])
        spec["Labels"] = {**spec.get("Labels", {}), **{label: "true" for label in missing}}
        self.engine.call("labelling this node", lambda: node.update(spec))
        step(f"labelled this node {', '.join(f'{label}=true' for label in missing)} for service placement")

    def _ensure_overlay(self, name: str, step: Callable[[str], None]) -> None:
        _, created = self.engine.ensure_network(name, overlay=True, labels={})
        if created:
            step(f"created the overlay network {name}")

    # --- units -----------------------------------------------------------------------------------------
    def deploy(self, spec: ContainerSpec) -> str:
        configs = self._configs(spec)
        try:
            kwargs = service_kwargs(
                spec,
                constraints=[f"node.labels.{PLACEMENT[spec.role]} == true"] if spec.role in PLACEMENT else [],
                configs=[ref for ref, _ in configs],
                stop_grace=10 if spec.role == "trainer" else 2,
            )
            created = self.engine.call(
                f"creating service {spec.name}", lambda: self.client.api.create_service(**kwargs)
            )
        except BaseException:
            for _, config_id in configs:
                self._remove_config(config_id)
            raise
        return str(created["ID"])

    def _configs(self, spec: ContainerSpec) -> list[tuple[Any, str]]:
        """One Swarm config per copied file, named after the service and the content."""
        made: list[tuple[Any, str]] = []
        try:
            for copy in spec.files:
                for path, data in copy.files.items():
                    target = "/" + f"{copy.directory.strip('/')}/{path.lstrip('/')}".strip("/")
                    digest = hashlib.sha256(data + target.encode()).hexdigest()[:10]
                    name = f"{spec.name}-{target.rsplit('/', 1)[-1]}-{digest}"[:64]
                    config_id = self._create_config(name, data, spec.labels)
                    made.append((docker.types.ConfigReference(config_id, name, filename=target), config_id))
        except BaseException:
            for _, config_id in made:
                self._remove_config(config_id)
            raise
        return made

    def _create_config(self, name: str, data: bytes, labels: Mapping[str, str]) -> str:
        created = self.engine.call(
            f"creating config {name}", lambda: self.client.api.create_config(name, data, labels=dict(labels))
        )
        return str(created["ID"])

    def _remove_config(self, config_id: str) -> None:
        try:
            self.client.api.remove_config(config_id)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if "in use" not in str(exc):
                raise translate(exc, "removing config") from exc

    def units(self, selector: Mapping[str, str | None], *, detailed: bool = False) -> list[ContainerInfo]:
        wanted = label_filters(selector)
        services = self.engine.call("listing services", lambda: self.client.services.list(filters={"label": wanted}))
        return self._infos(services, [*wanted, SERVICE_ID])

    def _infos(self, services: list[Any], task_labels: list[str]) -> list[ContainerInfo]:
        """Services as units, each in the state of its latest task: three engine calls for any number.

        Swarm learns that a task's container exited a moment after this node's engine does (longer
        under load), so a task container here that has ended overrides a task still reported running.
        """
        if not services:
            return []
        ids = [str(s.id) for s in services]
        tasks = self.engine.call("listing tasks", lambda: self.client.api.tasks(filters={"service": ids}))
        by_age = sorted(tasks, key=lambda t: (t.get("Version") or {}).get("Index", 0))
        latest = {t.get("ServiceID", ""): t for t in by_age}  # the newest task of each service wins
        local = self.engine.call(
            "listing task containers", lambda: self.client.api.containers(all=True, filters={"label": task_labels})
        )
        ended_here = {c["Id"] for c in local if c.get("State") in ENDED}
        return [self._info(s, latest.get(str(s.id)), ended_here) for s in services]

    def _info(self, service: Any, task: Mapping[str, Any] | None, ended_here: Collection[str]) -> ContainerInfo:
        state, exit_code, error, since = "pending", None, None, None
        if task is not None:
            state, exit_code, error, since = _states(task)
            container_id = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
            if state == "running" and container_id and container_id in ended_here:
                container = self.engine.get(str(container_id))
                state, exit_code = "failed", container.exit_code if container else None
        spec = service.attrs.get("Spec") or {}
        ports = {
            int(p["TargetPort"]): int(p["PublishedPort"])
            for p in (spec.get("EndpointSpec") or {}).get("Ports") or []
            if p.get("PublishedPort")
        }
        image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
        return ContainerInfo(
            id=str(service.id),
            name=str(service.name),
            image=image.split("@", 1)[0],
            status=state,
            labels=spec.get("Labels") or {},
            exit_code=None if state == "running" else exit_code,
            started_at=since if state == "running" else None,
            ports=ports,
            error=error,
        )

    def _task_containers(self, service_id: str) -> list[str]:
        return self.engine.ids({SERVICE_ID: service_id})

    def stop(self, unit_id: str, timeout: int) -> None:
        """Stop the service's task container on this node with a grace period; elsewhere removal stops it."""
        for container_id in self._task_containers(unit_id):
            self.engine.stop(container_id, timeout=timeout)

    def remove(self, unit_id: str) -> None:
        try:
            service = self.engine.call("reading service", lambda: self.client.services.get(unit_id))
        except NotFoundError:
            return
        refs = ((service.attrs.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Configs")
        with contextlib.suppress(NotFoundError):
            self.engine.call(f"removing service {service.name}", service.remove)
        # Swarm reaps the task's container seconds later; removing this node's copy now ends the wait
        for container_id in self._task_containers(unit_id):
            self.engine.remove(container_id)
        for ref in refs or []:
            self._remove_config(ref["ConfigID"])

    def logs(self, unit_id: str, tail: int | str = "all", since: int | None = None) -> str:
        return "\n".join(self.follow(unit_id, tail=tail, since=since, follow=False))

    def follow(
        self, unit_id: str, tail: int | str = "all", since: int | None = None, *, follow: bool = True
    ) -> Iterator[str]:
        stream = self.engine.call(
            "reading service logs",
            lambda: self.client.api.service_logs(
                unit_id, stdout=True, stderr=True, follow=follow, tail=tail, since=since or 0
            ),
        )
        if not follow:
            yield from log_lines(stream)
            return
        yield from self._until_task_ends(unit_id, log_lines(stream))

    def _until_task_ends(self, unit_id: str, lines: Iterator[str], quiet: float = 1.5) -> Iterator[str]:
        """A service's log stream stays open after its task ended: end it by the task's state instead."""
        pending: queue.Queue[str | None] = queue.Queue(maxsize=10_000)

        def pump() -> None:
            try:
                for line in lines:
                    pending.put(line)
            except Exception as exc:  # the service was removed meanwhile
                pending.put(f"(log stream ended: {exc})")
            finally:
                pending.put(None)

        threading.Thread(target=pump, daemon=True, name="drfc-service-logs").start()
        ended_at: float | None = None
        while True:
            try:
                line = pending.get(timeout=0.5)
            except queue.Empty:
                if ended_at is None:
                    found = self._unit(unit_id)
                    if found is None or found.status in ENDED:
                        ended_at = time.monotonic()
                elif time.monotonic() - ended_at > quiet:  # its last lines had time to arrive
                    return
                continue
            if line is None:
                return
            yield line

    def _unit(self, unit_id: str) -> ContainerInfo | None:
        try:
            service = self.engine.call("reading service", lambda: self.client.services.get(unit_id))
        except NotFoundError:
            return None
        found = self._infos([service], [f"{SERVICE_ID}={service.id}"])
        return found[0] if found else None

    def wait_gone(self, selector: Mapping[str, str | None], timeout: float) -> None:
        """Services go at once, their containers a moment later; then their configs can go too."""
        deadline = time.monotonic() + timeout
        tasks = {**selector, SERVICE_ID: None}  # task containers only: plain ones are not this backend's
        while (self.units(selector) or self.engine.ids(tasks)) and time.monotonic() < deadline:
            time.sleep(0.1)
        wanted = label_filters(selector)
        for config in self.engine.call("listing configs", lambda: self.client.configs.list(filters={"label": wanted})):
            self._remove_config(str(config.id))
