"""Containers described as plain values.

Everything drfc runs (MinIO, the trainer, each Robomaker worker) is first a
``ContainerSpec``: pure data built by pure functions and unit-tested without an
engine. Only the Docker adapter turns a spec into SDK arguments, in one place.
Every spec carries ``drfc.*`` labels, and drfc finds its containers again by
those labels, never by parsing names.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

LABEL_PREFIX = "drfc."
MANAGED = "drfc.managed"
KIND = "drfc.kind"
ROLE = "drfc.role"
RUN_ID = "drfc.run-id"
WORKER = "drfc.worker"
MODEL_PREFIX = "drfc.model-prefix"
HOME = "drfc.home"


class PullReporter(Protocol):
    """Receives an image pull's progress (bytes across all layers)."""

    def update(self, done: int, total: int, status: str) -> None: ...


#: Opens a progress display for pulling one image (given its reference) and hands back its reporter.
PullProgress = Callable[[str], AbstractContextManager[PullReporter]]


@dataclass(frozen=True)
class PortMap:
    container: int
    host: int
    protocol: Literal["tcp", "udp"] = "tcp"


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class FileCopy:
    """Files put into the container before it starts (works with remote engines, unlike bind mounts).

    ``files`` maps paths relative to ``directory`` to contents; ``directory`` must exist in the image,
    so copy into ``/`` with full relative paths when the target folders may be missing.
    """

    directory: str
    files: Mapping[str, bytes]


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    command: tuple[str, ...] | str | None  # a tuple is argv; the SDK would split a plain string on spaces
    labels: Mapping[str, str]
    environment: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    aliases: tuple[str, ...] = ()
    hostname: str | None = None
    ports: tuple[PortMap, ...] = ()
    mounts: tuple[Mount, ...] = ()
    gpu: bool = False
    device_ids: tuple[str, ...] = ()
    init: bool = False
    user: str | None = None
    working_dir: str | None = None
    restart: Literal["no", "unless-stopped", "on-failure"] = "no"
    log_driver: str | None = None
    log_options: Mapping[str, str] = field(default_factory=dict)
    files: tuple[FileCopy, ...] = ()

    @property
    def role(self) -> str:
        return self.labels.get(ROLE, "")


@dataclass(frozen=True)
class ContainerInfo:
    """What the engine says about one drfc container."""

    id: str
    name: str
    image: str
    status: str  # created, running, exited, ...
    labels: Mapping[str, str]
    exit_code: int | None = None
    started_at: str | None = None
    ports: Mapping[int, int] = field(default_factory=dict)  # container port -> host port
    error: str | None = None  # why the engine could not run it (Swarm task errors)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def role(self) -> str:
        return self.labels.get(ROLE, "")


def labels(kind: str, role: str, **extra: str | int) -> dict[str, str]:
    """The label set of one drfc object; extra keys become ``drfc.<key with - for _>``."""
    result = {MANAGED: "true", KIND: kind, ROLE: role}
    for key, value in extra.items():
        result[LABEL_PREFIX + key.replace("_", "-")] = str(value)
    return result


#: Private ranges drfc may give the sagemaker-local network, tried in order.
CANDIDATE_SUBNETS = tuple(ipaddress.IPv4Network(f"192.168.{n}.0/24") for n in range(200, 255))


def choose_subnet(used: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> ipaddress.IPv4Network:
    """The first candidate subnet that overlaps no existing network or route (DRfC#113 lost hours to this)."""
    taken = [net for net in used if isinstance(net, ipaddress.IPv4Network) and net.prefixlen > 0]
    for candidate in CANDIDATE_SUBNETS:
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise ValueError("every 192.168.200-254.0/24 subnet is already in use")
