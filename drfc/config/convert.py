"""Turning env-file strings into typed values, with messages that say what is valid."""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Any

from drfc.config.schema import VarSpec

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_DEVICES = re.compile(r"^\d+(\s*,\s*\d+)*$")
_URL = re.compile(r"^https?://[^\s/:@]+(:[^\s/@]*)?@?[^\s/]*(/\S*)?$")


@dataclass(frozen=True)
class Invalid:
    message: str
    valid: str | None = None


def parse_bool(text: str) -> bool | None:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def convert(spec: VarSpec, text: str) -> Any:
    """Typed value of ``text`` for ``spec``, or an ``Invalid`` saying why not."""
    stripped = text.strip()
    if spec.optional and stripped == "":
        return None
    kind = spec.type
    value: Any
    if kind is bool:
        value = parse_bool(stripped)
        if value is None:
            return Invalid("is not a boolean", "True or False (true/false, 1/0 and yes/no also work)")
        return value
    if kind is int:
        try:
            value = int(stripped)
        except ValueError:
            return Invalid("is not a whole number", _range_text(spec, "a whole number"))
        return _check_range(spec, value, "a whole number")
    if kind is float:
        try:
            value = float(stripped)
        except ValueError:
            return Invalid("is not a number", _range_text(spec, "a number such as 1.5"))
        if not math.isfinite(value):
            return Invalid("is not a finite number", _range_text(spec, "a number such as 1.5"))
        return _check_range(spec, value, "a number")
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        for member in kind:
            if str(member.value).lower() == stripped.lower():
                return member
        return Invalid("is not one of the allowed values", ", ".join(spec.choices))
    return _check_text(spec, stripped if spec.check else text)


def _range_text(spec: VarSpec, base: str) -> str:
    if spec.check == "port":
        return "a port number from 1 to 65535"
    lo, hi = spec.minimum, spec.maximum
    if lo is not None and hi is not None:
        return f"{base} from {_num(lo)} to {_num(hi)}"
    if lo is not None:
        return f"{base} of at least {_num(lo)}"
    if hi is not None:
        return f"{base} of at most {_num(hi)}"
    return base


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _check_range(spec: VarSpec, value: float, base: str) -> Any:
    lo, hi = spec.minimum, spec.maximum
    if spec.check == "port":
        lo, hi = 1, 65535
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if spec.key == "DR_RUN_ID":
            return Invalid(
                "is out of range: run N publishes ports 8080+N (training video), 8180+N (evaluation video) "
                "and 5900+N (GUI), so ids of 100 and above collide with other runs' ports",
                "a whole number from 0 to 99",
            )
        return Invalid("is out of range", _range_text(spec, base))
    return value


def _check_text(spec: VarSpec, text: str) -> Any:
    check = spec.check
    if check is None or check == "directory":
        return text
    if check == "url":
        if not _URL.match(text):
            return Invalid("is not an http(s) URL", "a URL such as http://mynas:9000")
        return text.rstrip("/")
    if check == "devices":
        if not _DEVICES.match(text):
            return Invalid("is not a list of GPU ids", "GPU indices separated by commas, such as 0 or 0,1")
        return ",".join(part.strip() for part in text.split(","))
    if check == "bucket":
        if not _BUCKET.match(text) or ".." in text:
            return Invalid(
                "is not a valid S3 bucket name",
                "3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit",
            )
        return text
    if check == "prefix":
        if not text or text.startswith("/") or text.endswith("/") or "//" in text or any(c.isspace() for c in text):
            return Invalid(
                "is not a usable S3 prefix",
                "a non-empty name without spaces, leading or trailing '/' or '//', such as my-model-1",
            )
        return text
    if check == "positions":
        problem = check_positions(text)
        return (
            Invalid(problem, "'progress,lane;progress,lane' with progress 0..1 and lane -1 or 1") if problem else text
        )
    return text


def check_positions(text: str) -> str | None:
    """Why an obstacle position list is malformed, or None when it is fine (empty is fine)."""
    text = text.strip().strip('"')
    if not text:
        return None
    for n, item in enumerate(text.split(";"), start=1):
        parts = item.split(",")
        if len(parts) != 2:
            return f"position {n} ({item!r}) is not 'progress,lane'"
        try:
            progress, lane = float(parts[0]), float(parts[1])
        except ValueError:
            return f"position {n} ({item!r}) has a non-numeric part"
        if not 0.0 <= progress <= 1.0:
            return f"position {n} has progress {parts[0].strip()}, outside 0..1"
        if lane not in (-1.0, 1.0):
            return f"position {n} has lane {parts[1].strip()}, which must be -1 or 1 (the two lanes)"
    return None
