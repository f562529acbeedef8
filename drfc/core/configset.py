"""`drfc config set`: validate an edit against the whole configuration, then write it atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from drfc.config.edit import set_values, write_atomic
from drfc.config.envfile import normalise_text, parse_env_text
from drfc.config.load import LoadOptions, config_error, inspect_config
from drfc.config.model import MASK
from drfc.config.problems import suggest
from drfc.config.schema import DRFC_COMPUTED_NAMES, is_secret, spec_by_key
from drfc.errors import ConfigError

Target = Literal["auto", "system", "run"]


@dataclass(frozen=True)
class Change:
    key: str
    value: str
    file: Path
    overridden_by: str | None

    @property
    def shown(self) -> str:
        return MASK if is_secret(self.key) and self.value else self.value

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "value": self.shown, "file": str(self.file), "overridden_by": self.overridden_by}


def apply_settings(
    options: LoadOptions,
    values: Mapping[str, str],
    target: Target = "auto",
    environ: Mapping[str, str] | None = None,
) -> list[Change]:
    env = dict(os.environ if environ is None else environ)
    known = spec_by_key()
    for key in values:
        if key in DRFC_COMPUTED_NAMES:
            raise ConfigError(f"{key} is computed by drfc and cannot be set")
        if key not in known:
            raise ConfigError(f"{key} is not a drfc setting", hint=suggest(key, known))
    before = inspect_config(options, env)
    if before.system_file is None or before.run_file is None:
        raise config_error(before)
    originals = {path: _raw_text(path) for path in (before.system_file, before.run_file)}
    defined = {
        path: {e.key for e in parse_env_text(normalise_text(text), path).entries} for path, text in originals.items()
    }
    files: dict[Path, dict[str, str]] = {}
    for key, value in values.items():
        path = _file_for(key, target, defined, before.system_file, before.run_file)
        files.setdefault(path, {})[key] = value
    # Edit the text as stored (BOM and CRLF kept); validate its normalised form, as the loader reads it.
    texts = {path: set_values(originals[path], changes) for path, changes in files.items()}
    after = inspect_config(options, env, replacements={p: normalise_text(t) for p, t in texts.items()})
    old = {(p.key, p.message) for p in before.errors}
    introduced = [p for p in after.errors if (p.key, p.message) not in old or p.key in values]
    if introduced:
        raise ConfigError(
            "nothing was written: the new values would make the configuration invalid",
            problems=[p.render(after.home) for p in introduced],
        )
    for path, text in texts.items():
        write_atomic(path, text)
    return [
        Change(key, value, path, f"the environment variable {key}" if key in env else None)
        for path, changes in files.items()
        for key, value in changes.items()
    ]


def _raw_text(path: Path) -> str:
    if not path.exists():
        return ""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot edit {path}: it is not UTF-8 text ({exc.reason})") from None


def _file_for(key: str, target: Target, defined: Mapping[Path, set[str]], system_file: Path, run_file: Path) -> Path:
    """The file to edit: the one whose definition of ``key`` takes effect (run file over system.env).

    Decided from the files themselves, not from the effective source, which is the environment or a
    flag when one of those overrides the file value.
    """
    if target == "system":
        return system_file
    if target == "run":
        return run_file
    for path in (run_file, system_file):
        if key in defined[path]:
            return path
    return system_file if spec_by_key()[key].scope == "system" else run_file
