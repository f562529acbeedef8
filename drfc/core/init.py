"""`drfc init`: a DRfC home from the shipped defaults, never clobbering what is there."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from drfc.config.schema import Cloud
from drfc.core.credentials import credentials_file, ensure_profile
from drfc.resources import SIMAPP_VERSION, defaults_dir

CUSTOM_FILES = ("hyperparameters.json", "model_metadata.json", "reward_function.py")


@dataclass(frozen=True)
class InitOptions:
    home: Path
    cloud: Cloud = Cloud.LOCAL
    gpu: bool | None = None  # None: detect
    force: bool = False
    region: str = "us-east-1"
    experiment: str | None = None


@dataclass
class InitResult:
    home: Path
    simapp_version: str
    gpu: bool
    gpu_reason: str
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    profile_created: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "home": str(self.home),
            "simapp_version": self.simapp_version,
            "gpu": self.gpu,
            "gpu_reason": self.gpu_reason,
            "written": [str(p) for p in self.written],
            "kept": [str(p) for p in self.kept],
            "backups": [str(p) for p in self.backups],
            "profile_created": self.profile_created,
        }


def fill(template: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", value)
    return template


def _free_name(path: Path) -> Path:
    """``path``, or ``path.1``, ``path.2``...: never an existing file, so no backup replaces another."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def initialise(
    options: InitOptions,
    detect_gpu: Callable[[], tuple[bool, str]],
    environ: Mapping[str, str] | None = None,
) -> InitResult:
    """Write system.env, run.env and custom_files/; existing files stay unless ``force`` (then backed up)."""
    if options.gpu is None:
        gpu, reason = detect_gpu()
    else:
        gpu, reason = options.gpu, "chosen with --gpu" if options.gpu else "chosen with --cpu"
    tag = f"{SIMAPP_VERSION}-{'gpu' if gpu else 'cpu'}"
    profile = "default" if options.cloud == Cloud.AWS else "minio"
    values = {
        "CLOUD": options.cloud.value,
        "REGION": options.region,
        "LOCAL_PROFILE": profile,
        "UPLOAD_BUCKET": "not-defined",
        "SIMAPP_VERSION": tag,
        "DOCKER_STYLE": "compose",
    }
    result = InitResult(options.home, tag, gpu, reason)
    source = defaults_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = options.home / "experiments" / options.experiment if options.experiment else options.home
    custom_dir = run_dir / "custom_files"
    plan: list[tuple[Path, str]] = [
        (options.home / "system.env", fill((source / "template-system.env").read_text(encoding="utf-8"), values)),
        (run_dir / "run.env", fill((source / "template-run.env").read_text(encoding="utf-8"), values)),
    ]
    plan += [(custom_dir / name, (source / name).read_text(encoding="utf-8")) for name in CUSTOM_FILES]
    for target, text in plan:
        if target.exists():
            if not options.force:
                result.kept.append(target)
                continue
            backup = _free_name(target.with_name(f"{target.name}.bak-{stamp}"))
            shutil.copy2(target, backup)
            result.backups.append(backup)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        result.written.append(target)
    if options.cloud in (Cloud.LOCAL, Cloud.AZURE) and ensure_profile(profile, options.region, environ):
        result.profile_created = f"{profile} ({credentials_file(environ)})"
    return result
