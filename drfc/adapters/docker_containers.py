"""The default backend: one plain container per unit, managed through the Docker SDK.

Also used for ``DR_DOCKER_STYLE=compose``: drfc needs no compose binary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from drfc.adapters.docker_engine import DockerEngine
from drfc.core.containers import ContainerInfo, ContainerSpec, PullProgress
from drfc.core.plan import RunPlan


class ContainersBackend:
    kind = "containers"

    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine

    def gpu_problem(self) -> str | None:
        return None if self.engine.has_nvidia_runtime() else "Docker offers no NVIDIA runtime"

    def ensure_image(self, ref: str, pulling: PullProgress) -> bool:
        return self.engine.ensure_image(ref, pulling)

    def prepare(self, plan: RunPlan, step: Callable[[str], None]) -> None:
        # an attachable overlay left by the Swarm backend serves plain containers just as well
        driver, created = self.engine.ensure_network(plan.network, overlay=False, labels={})
        if created:
            step(f"created the {driver} network {plan.network}")

    def deploy(self, spec: ContainerSpec) -> str:
        return self.engine.run(spec)

    def remove(self, unit_id: str) -> None:
        self.engine.remove(unit_id)

    def stop(self, unit_id: str, timeout: int) -> None:
        self.engine.stop(unit_id, timeout=timeout)

    def units(self, selector: Mapping[str, str | None], *, detailed: bool = False) -> list[ContainerInfo]:
        return self.engine.find(selector, detailed=detailed)

    def logs(self, unit_id: str, tail: int | str = "all", since: int | None = None) -> str:
        return self.engine.logs(unit_id, tail=tail, since=since)

    def follow(self, unit_id: str, tail: int | str = "all", since: int | None = None) -> Iterator[str]:
        return self.engine.follow_logs(unit_id, tail=tail, since=since)

    def wait_gone(self, selector: Mapping[str, str | None], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.engine.ids(selector) and time.monotonic() < deadline:
            time.sleep(0.1)
