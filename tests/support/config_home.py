"""A minimal DRfC home on disk for configuration tests: system.env, run.env and worker files."""

from __future__ import annotations

from pathlib import Path


def write_home(home: Path, system: str = "", run: str = "", **workers: str) -> Path:
    """Write the files byte for byte (CRLF and BOMs survive); ``worker_2="..."`` becomes worker-2.env."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "system.env").write_bytes(system.encode("utf-8"))
    (home / "run.env").write_bytes(run.encode("utf-8"))
    for name, text in workers.items():
        (home / f"{name.replace('_', '-')}.env").write_bytes(text.encode("utf-8"))
    return home
