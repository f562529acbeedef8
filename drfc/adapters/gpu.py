"""Is there a usable NVIDIA GPU? Asked of the Docker Engine first, then of nvidia-smi."""

from __future__ import annotations

import shutil
import subprocess


def docker_has_nvidia_runtime() -> bool | None:
    """True/False from `docker info`; None when the engine cannot be asked."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            runtimes = client.info().get("Runtimes", {}) or {}
        finally:
            client.close()
    except Exception:
        return None
    return any("nvidia" in name for name in runtimes)


def detect_gpu() -> tuple[bool, str]:
    """(GPU usable, how we know) for choosing the simapp's -gpu or -cpu tag."""
    runtime = docker_has_nvidia_runtime()
    if runtime:
        return True, "Docker offers the nvidia runtime"
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            listed = None
        if listed is not None and listed.returncode == 0 and listed.stdout.strip():
            count = len(listed.stdout.strip().splitlines())
            return True, f"nvidia-smi lists {count} GPU(s)"
    if runtime is None:
        return False, "no nvidia-smi, and Docker could not be asked"
    return False, "Docker has no nvidia runtime and there is no nvidia-smi"
