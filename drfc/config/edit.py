"""Changing values in env files without losing the user's comments, order or line endings."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from drfc.config.envfile import format_value


def _line_pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf"^(?P<lead>\s*(?:export\s+)?){re.escape(key)}\s*=")


def _commented_pattern(key: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*#\s*{re.escape(key)}\s*=")


def set_values(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each key's last definition replaced, or added after its commented-out template line."""
    newline = "\r\n" if "\r\n" in text else "\n"
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    lines = text[len(bom) :].replace("\r\n", "\n").split("\n")
    for key, value in values.items():
        rendered = f"{key}={format_value(value)}"
        active = _line_pattern(key)
        hits = [i for i, line in enumerate(lines) if active.match(line)]
        if hits:
            i = hits[-1]
            lead = active.match(lines[i])
            lines[i] = (lead.group("lead") if lead else "") + rendered
            continue
        commented = _commented_pattern(key)
        hits = [i for i, line in enumerate(lines) if commented.match(line)]
        if hits:
            lines.insert(hits[-1] + 1, rendered)
            continue
        if lines and lines[-1] == "":
            lines.insert(len(lines) - 1, rendered)
        else:
            lines.append(rendered)
    return bom + newline.join(lines)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` in one step: a crash leaves the old or the new file, never half of one."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_file(path: Path, values: Mapping[str, str]) -> None:
    text = path.read_bytes().decode("utf-8") if path.exists() else ""
    write_atomic(path, set_values(text, values))
