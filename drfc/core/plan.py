"""A run as values: every container (or service) to start and the files to publish first.

Training and evaluation plans share this shape, so one start sequence
(``drfc.core.runs``), one renderer and both backends serve them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from drfc.config.model import MASK
from drfc.core.containers import WORKER, ContainerSpec

#: Masked in plan documents; the access key id stays visible so a user can tell which keys a run gets.
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MINIO_ROOT_PASSWORD")


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None

    def environment(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


@dataclass(frozen=True)
class RunPlan:
    run_id: int
    backend: Literal["containers", "swarm"]
    network: str
    model_prefix: str
    containers: tuple[ContainerSpec, ...]
    s3_files: Mapping[str, str] = field(default_factory=dict)  # key under the prefix -> text
    kind: Literal["training", "evaluation"] = "training"

    @property
    def trainer(self) -> ContainerSpec:
        return next(c for c in self.containers if c.role == "trainer")

    @property
    def workers(self) -> tuple[ContainerSpec, ...]:
        return tuple(c for c in self.containers if c.role == "robomaker")

    def to_dict(self, *, mask: bool = True) -> dict[str, Any]:
        """The `start-training --dry-run --json` document; secrets masked."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "backend": self.backend,
            "network": self.network,
            "containers": [describe(c, mask=mask) for c in self.containers],
        }


def describe(spec: ContainerSpec, *, mask: bool = True) -> dict[str, Any]:
    env = dict(spec.environment)
    if mask:
        for key in env:
            if key in SECRET_ENV or "SECRET" in key or "PASSWORD" in key:
                env[key] = MASK
    command = spec.command if isinstance(spec.command, str) or spec.command is None else " ".join(spec.command)
    # a one-element tuple is one argv entry: the image's `bash -c` runs it as a whole command line
    return {
        "name": spec.name,
        "role": spec.role,
        "worker": int(spec.labels.get(WORKER, "0")),
        "image": spec.image,
        "command": command,
        "environment": env,
        "ports": {str(p.container): p.host for p in spec.ports},
        "gpu": spec.gpu,
        "device_ids": list(spec.device_ids),
        "mounts": [f"{m.source}:{m.target}{':ro' if m.read_only else ''}" for m in spec.mounts],
        "labels": dict(spec.labels),
    }
