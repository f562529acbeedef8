"""`drfc config set`: validate an edit against the whole configuration, then write it atomically."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from drfc.config.edit import set_values, write_atomic
from drfc.config.envfile import read_text
from drfc.config.load import LoadOptions, config_error, inspect_config
from drfc.config.model import MASK
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
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
            raise ConfigError(f"{key} is not a drfc setting", hint=f"did you mean {close[0]}?" if close else None)
    before = inspect_config(options, env)
    if before.system_file is None or before.run_file is None:
        raise config_error(before)
    files: dict[Path, dict[str, str]] = {}
    for key, value in values.items():
        path = _file_for(key, target, before.sources, before.system_file, before.run_file)
        files.setdefault(path, {})[key] = value
    texts = {path: set_values(read_text(path) if path.exists() else "", changes) for path, changes in files.items()}
    after = inspect_config(options, env, replacements=texts)
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


def _file_for(key: str, target: Target, sources: Mapping[str, object], system_file: Path, run_file: Path) -> Path:
    if target == "system":
        return system_file
    if target == "run":
        return run_file
    source = sources.get(key)
    file = getattr(source, "file", None)
    if isinstance(file, Path) and file in (system_file, run_file):
        return file
    return system_file if spec_by_key()[key].scope == "system" else run_file
