"""The default backend: one plain container per unit, managed through the Docker SDK.

Also used for ``DR_DOCKER_STYLE=compose``: drfc needs no compose binary.
"""

from __future__ import annotations

from collections.abc import Mapping

from drfc.adapters.docker_engine import DockerEngine
from drfc.core.containers import ContainerInfo, ContainerSpec


class ContainersBackend:
    kind = "containers"

    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine

    def deploy(self, spec: ContainerSpec) -> str:
        return self.engine.run(spec)

    def remove(self, unit_id: str) -> None:
        self.engine.remove(unit_id)

    def stop(self, unit_id: str, timeout: int) -> None:
        self.engine.stop(unit_id, timeout=timeout)

    def units(self, selector: Mapping[str, str | None]) -> list[ContainerInfo]:
        return self.engine.find(selector)

    def logs(self, unit_id: str, tail: int) -> str:
        return self.engine.logs(unit_id, tail=tail)
