"""A configuration problem that names where it is and what would be valid."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """``did you mean X?`` for the closest candidate, or None when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.7)
    return f"did you mean {close[0]}?" if close else None


def file_line(path: Path, line: int | None, base: Path | None = None) -> str:
    """``run.env:12``: the path relative to ``base`` when it lies inside it."""
    name = str(path)
    if base is not None and path.is_relative_to(base):
        name = str(path.relative_to(base))
    return f"{name}:{line}" if line else name


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input, precise enough to fix without guessing."""

    message: str
    file: Path | None = None
    line: int | None = None
    key: str | None = None
    value: str | None = None
    valid: str | None = None
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def location(self, base: Path | None = None) -> str:
        """``run.env:12`` style location, relative to ``base`` when possible; "" when it has none."""
        if self.file is None:
            if not self.key:
                return ""  # about the set-up as a whole (no home, no system.env), not one value
            return "flag" if self.key.startswith("--") else "environment"
        return file_line(self.file, self.line, base)

    def render(self, base: Path | None = None) -> str:
        where = self.location(base)
        subject = ""
        if self.key:
            subject = f"{self.key}"
            if self.value is not None:
                subject += f"={self.value!r}"
            subject += ": "
        text = f"{where}: {subject}{self.message}" if where else f"{subject}{self.message}"
        if self.valid:
            text += f" (valid: {self.valid})"
        return text

    def to_dict(self, base: Path | None = None) -> dict[str, object]:
        return {
            "severity": self.severity,
            "location": self.location(base) or None,
            "file": str(self.file) if self.file else None,
            "line": self.line,
            "key": self.key,
            "value": self.value,
            "message": self.message,
            "valid": self.valid,
        }
