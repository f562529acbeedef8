"""The frozen configuration object every command works from.

Computed values (endpoints, ports, image, backend) are properties here, so
there is exactly one definition of each and the core never sees raw strings.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from drfc.config.problems import Problem, file_line
from drfc.config.schema import Cloud, DockerStyle, Settings, is_secret, specs
from drfc.ui import REDACTED

SourceKind = Literal["default", "system", "run", "worker", "environment", "flag", "computed"]

NETWORK_NAME = "sagemaker-local"
MINIO_HOST_ENDPOINT = "http://localhost:9000"
MINIO_CONTAINER_ENDPOINT = "http://minio:9000"
MASK = REDACTED  # the same mask as the UI puts over registered secrets

#: Port bases; worker w of run r uses base + r + PORT_STRIDE * (w - 1).
TRAIN_PORT_BASE = 8080
EVAL_PORT_BASE = 8180
GUI_PORT_BASE = 5900
PORT_STRIDE = 1000


@dataclass(frozen=True)
class Source:
    """Where an effective value came from."""

    kind: SourceKind
    file: Path | None = None
    line: int | None = None
    overrides: str | None = None  # "run.env:12" when the environment or a flag won over a file

    def describe(self, base: Path | None = None) -> str:
        text = file_line(self.file, self.line, base) if self.file is not None else self.kind
        if self.overrides:
            text += f" (overrides {self.overrides})"
        return text


@dataclass(frozen=True)
class WorkerConfig:
    """Settings of one Robomaker worker (1-based); worker 1 always uses the run file."""

    index: int
    settings: Settings
    file: Path | None  # worker-N.env, or None for worker 1 / single-config runs


def train_port(run_id: int, worker: int = 1) -> int:
    return TRAIN_PORT_BASE + run_id + PORT_STRIDE * (worker - 1)


def gui_port(run_id: int, worker: int = 1) -> int:
    return GUI_PORT_BASE + run_id + PORT_STRIDE * (worker - 1)


def eval_port(run_id: int) -> int:
    return EVAL_PORT_BASE + run_id


@dataclass(frozen=True)
class Config:
    home: Path
    system_file: Path
    run_file: Path
    experiment: str | None
    settings: Settings
    workers: tuple[WorkerConfig, ...]
    sources: Mapping[str, Source]
    warnings: tuple[Problem, ...] = ()

    # --- locations -------------------------------------------------------------------------------
    @property
    def custom_files_dir(self) -> Path:
        if self.experiment:
            return self.home / "experiments" / self.experiment / "custom_files"
        return self.home / "custom_files"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def minio_data_dir(self) -> Path:
        return self.data_dir / "minio"

    # --- storage ------------------------------------------------------------------------------------
    @property
    def uses_managed_minio(self) -> bool:
        """local and azure keep models in a MinIO container that drfc runs."""
        return self.settings.cloud in (Cloud.LOCAL, Cloud.AZURE)

    @property
    def s3_endpoint_host(self) -> str | None:
        """S3 endpoint as seen from this machine; None means AWS S3."""
        return self._s3_endpoint(MINIO_HOST_ENDPOINT)

    @property
    def s3_endpoint_containers(self) -> str | None:
        """S3 endpoint as seen from containers on the sagemaker-local network."""
        return self._s3_endpoint(MINIO_CONTAINER_ENDPOINT)

    def _s3_endpoint(self, managed: str) -> str | None:
        """``managed`` for drfc's own MinIO; a remote MinIO's URL is the same from everywhere."""
        if self.uses_managed_minio:
            return managed
        if self.settings.cloud == Cloud.REMOTE:
            return self.settings.remote_minio_url
        return None

    @property
    def minio_image(self) -> str:
        return f"minio/minio:{self.settings.minio_image}"

    # --- images and backend -----------------------------------------------------------------------
    @property
    def simapp_image(self) -> str:
        return f"{self.settings.simapp_source}:{self.settings.simapp_version}"

    @property
    def gpu_image(self) -> bool:
        """The simapp tag decides GPU use, as in DRfC."""
        return "gpu" in self.settings.simapp_version.lower()

    @property
    def backend(self) -> Literal["containers", "swarm"]:
        return "swarm" if self.settings.docker_style == DockerStyle.SWARM else "containers"

    @property
    def network(self) -> str:
        return NETWORK_NAME

    # --- run layout --------------------------------------------------------------------------------
    @property
    def run_id(self) -> int:
        return self.settings.run_id

    @property
    def worker_count(self) -> int:
        return self.settings.workers

    @property
    def multi_config(self) -> bool:
        return self.settings.train_multi_config and self.settings.workers > 1

    def train_port(self, worker: int = 1) -> int:
        return train_port(self.run_id, worker)

    def gui_port(self, worker: int = 1) -> int:
        return gui_port(self.run_id, worker)

    @property
    def eval_port(self) -> int:
        return eval_port(self.run_id)

    # --- presentation ------------------------------------------------------------------------------
    def computed(self) -> dict[str, Any]:
        """DRfC's computed variables, with drfc's values, for `config show`."""
        return {
            "DR_DIR": str(self.home),
            "DR_CONFIG": str(self.run_file),
            "DR_LOCAL_S3_ENDPOINT_URL": self.s3_endpoint_host,
            "DR_MINIO_URL": self.s3_endpoint_containers,
            "DR_ROBOMAKER_TRAIN_PORT": self.train_port(1),
            "DR_ROBOMAKER_EVAL_PORT": self.eval_port,
            "DR_ROBOMAKER_GUI_PORT": self.gui_port(1),
            "DR_SIMAPP_IMAGE": self.simapp_image,
        }

    def typed_values(self, *, mask_secrets: bool = True) -> dict[str, Any]:
        """Every DR_* name mapped to a JSON-ready typed value (secrets masked)."""
        out: dict[str, Any] = {}
        for spec in specs():
            value = getattr(self.settings, spec.attr)
            if isinstance(value, enum.Enum):
                value = value.value
            out[spec.key] = value
        out.update(self.computed())
        if mask_secrets:
            for key, value in out.items():
                if value not in (None, "") and is_secret(key):
                    out[key] = MASK
            if self.settings.remote_minio_url:
                out["DR_REMOTE_MINIO_URL"] = mask_url(self.settings.remote_minio_url)
                if self.settings.cloud == Cloud.REMOTE:
                    out["DR_LOCAL_S3_ENDPOINT_URL"] = out["DR_MINIO_URL"] = out["DR_REMOTE_MINIO_URL"]
        return out


def mask_url(url: str) -> str:
    """Hide a password embedded in a URL (``http://user:pass@host``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, host = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{host}"
