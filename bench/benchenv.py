"""The environment every bench gives the processes it times (shared by the scripts in bench/)."""

from __future__ import annotations

import os
from pathlib import Path

#: Never inherited: the caller's DRfC/drfc settings, and its bytecode policy (see below).
_SKIP = ("DRFC_DEBUG", "CI", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")


def subprocess_env(work: Path, *, drop_aws: bool = True, **extra: str) -> dict[str, str]:
    """The caller's environment without DR_* (and AWS_*) settings, with bytecode as after a pip install.

    A PYTHONDONTWRITEBYTECODE of the caller is dropped: with it every timed run would compile drfc's
    sources again (an editable install has no bytecode of its own), while the floor's installed
    packages come with theirs. Bytecode goes to the bench's own folder and is filled by the warm-up.
    """
    prefixes = ("DR_", "AWS_") if drop_aws else ("DR_",)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in _SKIP}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env.update(extra)
    return env
