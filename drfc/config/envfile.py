"""Reading DRfC env files without ``eval``.

python-dotenv does the lexing (quotes, ``export``, inline comments, CRLF).
Expansion is ours because DRfC templates use bare ``$VAR`` as well as
``${VAR}``, which python-dotenv does not expand, and because every value must
keep the file and line it came from for error messages.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from drfc.config.problems import Problem

_REFERENCE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_SINGLE_QUOTED = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.]*\s*=\s*'")


@dataclass(frozen=True)
class Entry:
    """One ``KEY=value`` line as written, before expansion."""

    key: str
    raw: str
    file: Path
    line: int
    literal: bool  # single-quoted: no expansion, as in a shell


@dataclass(frozen=True)
class EnvFile:
    path: Path
    entries: tuple[Entry, ...]
    problems: tuple[Problem, ...]

    def keys(self) -> list[str]:
        return [e.key for e in self.entries]


def normalise_text(text: str) -> str:
    """``text`` with a leading byte-order mark removed and CRLF (or lone CR) turned into LF."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path) -> str:
    """File text with a UTF-8 BOM removed and CRLF turned into LF."""
    return normalise_text(path.read_bytes().decode("utf-8"))


def parse_env_text(text: str, path: Path) -> EnvFile:
    """Split env-file text into entries; lines that are not ``KEY=value`` become problems."""
    from dotenv.parser import parse_stream

    entries: list[Entry] = []
    problems: list[Problem] = []
    for binding in parse_stream(io.StringIO(text)):
        # python-dotenv starts a binding at the blank lines before it; count the line of its text.
        original = binding.original.string
        blank = original[: len(original) - len(original.lstrip())]
        line_no = binding.original.line + blank.count("\n")
        if binding.error:
            shown = binding.original.string.strip()
            problems.append(
                Problem(
                    f"cannot read this line: {shown!r}",
                    file=path,
                    line=line_no,
                    valid="KEY=value, a comment starting with #, or a blank line",
                )
            )
            continue
        if binding.key is None:
            continue  # comment or blank line
        if binding.value is None:
            problems.append(
                Problem("has no '=' and no value", file=path, line=line_no, key=binding.key, valid="KEY=value")
            )
            continue
        literal = bool(_SINGLE_QUOTED.match(binding.original.string))
        entries.append(Entry(binding.key, binding.value, path, line_no, literal))
    return EnvFile(path, tuple(entries), tuple(problems))


def parse_env_file(path: Path) -> EnvFile:
    try:
        text = read_text(path)
    except UnicodeDecodeError as exc:
        return EnvFile(path, (), (Problem(f"is not UTF-8 text ({exc.reason})", file=path),))
    return parse_env_text(text, path)


def expand(raw: str, lookup: Callable[[str], str | None]) -> str:
    """Replace ``$VAR``, ``${VAR}`` and ``${VAR:-default}``; unknown names become empty, as in bash."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        value = lookup(name)
        if value is None or (value == "" and match.group("default") is not None):
            return match.group("default") or ""
        return value

    return _REFERENCE.sub(substitute, raw)


def references(raw: str) -> list[str]:
    """Names a raw value refers to, in order."""
    return [m.group("braced") or m.group("bare") for m in _REFERENCE.finditer(raw)]


def chain_lookup(*layers: Mapping[str, str]) -> Callable[[str], str | None]:
    """Look a name up in each mapping in turn."""

    def lookup(name: str) -> str | None:
        for layer in layers:
            if name in layer:
                return layer[name]
        return None

    return lookup


_SAFE_BARE = re.compile(r"^[A-Za-z0-9_./:,@+\-=${}]*$")


def format_value(value: str) -> str:
    """Write a value so that reading it back gives the same string."""
    if _SAFE_BARE.match(value):
        return value
    if "'" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
