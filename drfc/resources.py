"""Where the shipped ``defaults/`` live: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

#: The simapp release drfc is tested against; `drfc init` picks its -cpu or -gpu tag.
SIMAPP_VERSION = "6.0.4"


def defaults_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_defaults", here.parent / "defaults"):
        if (candidate / "template-system.env").is_file():
            return candidate
    raise FileNotFoundError("drfc's defaults/ folder is missing from this installation")
