"""Finding, layering and validating the configuration.

Precedence, lowest to highest (the one place it is defined):

1. built-in defaults (``drfc.config.schema``; DRfC's template values)
2. ``system.env`` in the DRfC home
3. the run file: ``--run-env FILE``, else ``experiments/<name>/run.env`` when an
   experiment is selected, else ``run.env``
4. ``DR_*`` variables in the process environment
5. command-line flags (``--set KEY=VALUE`` and command options that name a setting)

Values expand ``$VAR`` / ``${VAR}`` from earlier lines, from ``system.env``, from
``DR_DIR`` (the home) and from the process environment, as DRfC's activation
does. ``worker-N.env`` files (multi-config training) override the per-worker
keys for worker N only, starting from the run's values each time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from drfc.config.convert import Invalid, convert
from drfc.config.envfile import EnvFile, chain_lookup, expand, parse_env_file, parse_env_text, references
from drfc.config.model import MASK, Config, Source, WorkerConfig, mask_url
from drfc.config.problems import Problem, suggest
from drfc.config.schema import (
    DRFC_COMPUTED_NAMES,
    LEGACY_NAMES,
    RETIRED_NAMES,
    Cloud,
    RaceType,
    Settings,
    VarSpec,
    is_secret,
    spec_by_key,
    specs,
)
from drfc.errors import ConfigError

Purpose = Literal["any", "training", "evaluation"]


@dataclass(frozen=True)
class LoadOptions:
    """What the user chose on the command line."""

    home: Path | None = None
    run_env: Path | None = None
    experiment: str | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)
    purpose: Purpose = "any"


@dataclass
class Inspection:
    """Everything found while loading: the config (when usable) and every problem."""

    home: Path
    config: Config | None
    problems: list[Problem]
    raw: dict[str, str] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    system_file: Path | None = None
    run_file: Path | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


def locate_home(flag: Path | None, environ: Mapping[str, str]) -> Path:
    """``--dir`` > ``DR_DIR`` > current directory."""
    if flag is not None:
        return flag.expanduser().resolve()
    if environ.get("DR_DIR"):
        return Path(environ["DR_DIR"]).expanduser().resolve()
    return Path.cwd().resolve()


def load_config(options: LoadOptions, environ: Mapping[str, str] | None = None) -> Config:
    """The validated configuration; raises ``ConfigError`` listing every problem."""
    found = inspect_config(options, environ)
    if found.errors or found.config is None:
        raise config_error(found)
    return found.config


def config_error(found: Inspection) -> ConfigError:
    errors = found.errors
    rendered = [p.render(found.home) for p in errors]
    count = len(errors)
    noun = "problem" if count == 1 else "problems"
    return ConfigError(
        f"the configuration has {count} {noun}",
        problems=rendered,
        hint="fix them, then check with `drfc config validate`",
    )


def inspect_config(
    options: LoadOptions,
    environ: Mapping[str, str] | None = None,
    replacements: Mapping[Path, str] | None = None,
) -> Inspection:
    """Load and validate, collecting all problems in one pass instead of stopping at the first.

    ``replacements`` gives new text for some files, to validate an edit before writing it.
    """
    env = dict(os.environ if environ is None else environ)
    home = locate_home(options.home, env)
    return _Loader(options, env, home, replacements or {}).run()


class _Loader:
    def __init__(
        self, options: LoadOptions, environ: dict[str, str], home: Path, replacements: Mapping[Path, str]
    ) -> None:
        self.replacements = replacements
        self.options = options
        self.environ = environ
        self.home = home
        self.problems: list[Problem] = []
        self.resolved: dict[str, str] = {}
        self.sources: dict[str, Source] = {}
        self.flags = {k.strip(): v for k, v in options.overrides.items()}
        self.env_over = {k: v for k, v in environ.items() if k in spec_by_key()}
        self.base = {"DR_DIR": str(home)}
        self.experiment_where: dict[str, Any] = {"key": "DR_EXPERIMENT_NAME"}

    # --- orchestration ----------------------------------------------------------------------------
    def run(self) -> Inspection:
        result = Inspection(self.home, None, self.problems, self.resolved, self.sources)
        if not self.home.is_dir():
            self.error(f"DRfC home {self.home} is not a directory", valid="--dir DIR or DR_DIR pointing at it")
            return result
        system_file = self.home / "system.env"
        if not system_file.is_file():
            self.error(
                f"no system.env in {self.home}",
                valid="run `drfc init` there, or point --dir / DR_DIR at your DRfC home",
            )
            return result
        result.system_file = system_file
        system = self.read(system_file)
        experiment = self.experiment(system)
        run_file = self.run_file(experiment)
        if run_file is None:
            return result
        result.run_file = run_file
        run = self.read(run_file)
        self.layer(system, "system")
        self.layer(run, "run")
        self.check_flags()
        self.fill_defaults()
        self.apply_legacy(system, run)
        typed, failed = self.convert_all()
        settings = Settings(**typed)
        self.cross_check(settings, failed)
        workers = self.workers(settings, failed, run_file)
        self.note_environment_overrides()
        if any(p.is_error for p in self.problems):
            return result
        result.config = Config(
            home=self.home,
            system_file=system_file,
            run_file=run_file,
            experiment=experiment,
            settings=settings,
            workers=workers,
            sources=dict(self.sources),
            warnings=tuple(p for p in self.problems if not p.is_error),
        )
        return result

    # --- problems ---------------------------------------------------------------------------------
    def error(self, message: str, **where: Any) -> None:
        self.problems.append(Problem(message, **where))

    def warn(self, message: str, **where: Any) -> None:
        self.problems.append(Problem(message, severity="warning", **where))

    def where(self, key: str) -> dict[str, Any]:
        src = self.sources.get(key)
        if src is None:
            return {"key": key}
        if src.kind == "flag":
            return {"key": f"--set {key}", "file": None}  # located as "flag", like an unknown --set key
        return {"key": key, "file": src.file, "line": src.line}

    # --- files ------------------------------------------------------------------------------------
    def read(self, path: Path) -> EnvFile:
        replaced = self.replacements.get(path)
        parsed = parse_env_file(path) if replaced is None else parse_env_text(replaced, path)
        self.problems.extend(parsed.problems)
        return parsed

    def experiment(self, system: EnvFile) -> str | None:
        name = self.options.experiment or self.environ.get("DR_EXPERIMENT_NAME")
        # Where the name came from, so a problem with it points at the flag, the variable or the line.
        self.experiment_where = {"key": "--experiment" if self.options.experiment else "DR_EXPERIMENT_NAME"}
        if not name:
            for entry in system.entries:
                if entry.key == "DR_EXPERIMENT_NAME":
                    name = entry.raw.strip()
                    self.experiment_where = {"key": entry.key, "file": entry.file, "line": entry.line}
        if not name:
            return None
        folder = self.home / "experiments" / name
        if not folder.is_dir():
            available = sorted(p.name for p in (self.home / "experiments").glob("*") if p.is_dir())
            self.error(
                f"experiment {name!r} has no folder {folder}",
                valid=", ".join(available) if available else "create experiments/<name>/ with a run.env",
                **self.experiment_where,
            )
        return name

    def run_file(self, experiment: str | None) -> Path | None:
        if self.options.run_env is not None:
            path = self.options.run_env.expanduser()
            if not path.is_absolute() and not path.exists() and (self.home / path).exists():
                path = self.home / path
            path = path.resolve()
            if not path.is_file():
                self.error(f"run file {path} does not exist", key="--run-env", valid="an existing env file")
                return None
            return path
        if experiment:
            path = self.home / "experiments" / experiment / "run.env"
            if not path.is_file():
                if (path.parent).is_dir():
                    self.error(f"experiment {experiment!r} has no run.env ({path})", **self.experiment_where)
                return None
            return path
        path = self.home / "run.env"
        if not path.is_file():
            self.error(f"no run.env in {self.home}", valid="run `drfc init`, or pass --run-env FILE")
            return None
        return path

    # --- layering ----------------------------------------------------------------------------------
    def layer(self, envfile: EnvFile, kind: Literal["system", "run"]) -> None:
        later = {e.key: e for e in envfile.entries}
        seen: dict[str, int] = {}
        for entry in envfile.entries:
            if entry.key in seen:
                self.warn(
                    f"is set again here (first at line {seen[entry.key]}); the later value wins",
                    file=entry.file,
                    line=entry.line,
                    key=entry.key,
                )
            seen[entry.key] = entry.line
            lookup = chain_lookup(self.flags, self.resolved, self.base, self.environ)
            if entry.literal:
                file_value = entry.raw
            else:
                self.check_forward_references(entry.raw, entry.key, entry.file, entry.line, later, seen)
                file_value = expand(entry.raw, lookup)
            here = f"{entry.file.name}:{entry.line}"
            if entry.key in self.flags:
                self.resolved[entry.key] = self.flags[entry.key]
                self.sources[entry.key] = Source("flag", overrides=here)
            elif entry.key in self.env_over:
                overridden = here if self.env_over[entry.key] != file_value else None
                self.resolved[entry.key] = self.env_over[entry.key]
                self.sources[entry.key] = Source("environment", overrides=overridden)
            else:
                self.resolved[entry.key] = file_value
                self.sources[entry.key] = Source(kind, entry.file, entry.line)

    def check_forward_references(
        self, raw: str, key: str, file: Path, line: int, later: dict[str, Any], seen: dict[str, int]
    ) -> None:
        for name in references(raw):
            defined_later = name in later and name not in seen and name not in self.resolved
            if defined_later and name not in self.environ and name not in self.flags:
                self.warn(
                    f"refers to ${name}, which is only set further down (line {later[name].line}), "
                    "so it expands to an empty string here",
                    file=file,
                    line=line,
                    key=key,
                )

    def check_flags(self) -> None:
        known = spec_by_key()
        for key in self.flags:
            if key not in known:
                self.error("is not a drfc setting", key=f"--set {key}", valid=self.suggest(key))

    def fill_defaults(self) -> None:
        for spec in specs():
            key = spec.key
            if key in self.resolved:
                continue
            if key in self.flags:
                self.resolved[key] = self.flags[key]
                self.sources[key] = Source("flag")
            elif key in self.env_over:
                self.resolved[key] = self.env_over[key]
                self.sources[key] = Source("environment")
            elif spec.default is not None:
                lookup = chain_lookup(self.flags, self.resolved, self.base, self.environ)
                self.resolved[key] = expand(spec.default, lookup)
                self.sources[key] = Source("default")

    def apply_legacy(self, *files: EnvFile) -> None:
        for envfile in files:
            for entry in envfile.entries:
                key = entry.key
                if key in LEGACY_NAMES:
                    new = LEGACY_NAMES[key]
                    if self.sources.get(new, Source("default")).kind == "default":
                        self.resolved[new] = self.resolved.get(key, entry.raw)
                        self.sources[new] = Source(envfile_kind(envfile, self.home), entry.file, entry.line)
                    self.warn(f"is an old name; use {new}", file=entry.file, line=entry.line, key=key)
                elif key in RETIRED_NAMES:
                    self.warn(f"is no longer used: {RETIRED_NAMES[key]}", file=entry.file, line=entry.line, key=key)
                elif key.startswith("DR_") and key not in spec_by_key() and key not in DRFC_COMPUTED_NAMES:
                    self.warn(
                        "is not a known setting and is ignored",
                        file=entry.file,
                        line=entry.line,
                        key=key,
                        valid=self.suggest(key),
                    )

    @staticmethod
    def suggest(key: str) -> str | None:
        return suggest(key, spec_by_key())

    # --- typing ----------------------------------------------------------------------------------
    def convert_all(self) -> tuple[dict[str, Any], set[str]]:
        typed: dict[str, Any] = {}
        failed: set[str] = set()
        for spec in specs():
            if spec.key not in self.resolved:
                typed[spec.attr] = None  # optional and unset
                continue
            value = convert(spec, self.resolved[spec.key])
            if isinstance(value, Invalid):
                failed.add(spec.key)
                source = self.sources.get(spec.key)
                if source is not None and source.kind == "default" and failed & set(references(spec.default or "")):
                    value = _fallback(spec)  # a default built from a bad value: that value is already reported
                    typed[spec.attr] = value
                    continue
                shown = _shown(spec, self.resolved[spec.key])
                self.error(value.message, value=shown, valid=value.valid, **self.where(spec.key))
                value = _fallback(spec)
            typed[spec.attr] = value
        return typed, failed

    # --- rules that span keys ------------------------------------------------------------------
    def cross_check(self, s: Settings, failed: set[str]) -> None:
        purpose = self.options.purpose
        if s.cloud == Cloud.REMOTE and not s.remote_minio_url and "DR_REMOTE_MINIO_URL" not in failed:
            self.error(
                "is 'remote' but DR_REMOTE_MINIO_URL is not set",
                value="remote",
                valid="set DR_REMOTE_MINIO_URL=http://host:9000 in system.env",
                **self.where("DR_CLOUD"),
            )
        # "any" (config show/get/set) applies no run-kind rule: an evaluation run.env must stay usable.
        if purpose == "training" and s.race_type == RaceType.HEAD_TO_MODEL:
            self.error(
                "HEAD_TO_MODEL can only be evaluated, not trained",
                value=s.race_type.value,
                valid="TIME_TRIAL, OBJECT_AVOIDANCE or HEAD_TO_BOT for training",
                **self.where("DR_RACE_TYPE"),
            )
        head_to_model = purpose == "evaluation" and s.race_type == RaceType.HEAD_TO_MODEL
        if head_to_model and s.eval_opp_s3_model_prefix == s.local_s3_model_prefix:
            self.error(
                "the opponent is the model being evaluated",
                value=s.eval_opp_s3_model_prefix,
                valid="the S3 prefix of another model",
                **self.where("DR_EVAL_OPP_S3_MODEL_PREFIX"),
            )
        self.check_lane_change(s, failed, self.where("DR_H2B_LOWER_LANE_CHANGE_TIME"))
        for key in ("DR_ROBOMAKER_MOUNT_SIMAPP_DIR", "DR_ROBOMAKER_MOUNT_SCRIPTS_DIR"):
            path = s.value(key)
            if path and key not in failed and not Path(path).expanduser().is_dir():
                self.error("is not an existing directory", value=path, valid="an existing directory", **self.where(key))

    def check_lane_change(self, s: Settings, failed: set[str], where: dict[str, Any]) -> None:
        if {"DR_H2B_LOWER_LANE_CHANGE_TIME", "DR_H2B_UPPER_LANE_CHANGE_TIME"} & failed:
            return
        if s.h2b_lower_lane_change_time > s.h2b_upper_lane_change_time:
            self.error(
                "is greater than DR_H2B_UPPER_LANE_CHANGE_TIME",
                value=str(s.h2b_lower_lane_change_time),
                valid=f"at most {s.h2b_upper_lane_change_time}",
                **where,
            )

    # --- multi-config workers ----------------------------------------------------------------
    def workers(self, main: Settings, failed: set[str], run_file: Path) -> tuple[WorkerConfig, ...]:
        count = main.workers if "DR_WORKERS" not in failed else 1
        if not (main.train_multi_config and count > 1) or self.options.purpose == "evaluation":
            return tuple(WorkerConfig(i, main, None) for i in range(1, count + 1))
        result = [WorkerConfig(1, main, None)]
        for index in range(2, count + 1):
            path = run_file.parent / f"worker-{index}.env"
            if not path.is_file():
                self.error(
                    f"multi-config training with {count} workers needs {path.name}, which does not exist",
                    file=path,
                    key="DR_TRAIN_MULTI_CONFIG",
                    valid=f"create {path} (drfc init writes a template), or set DR_TRAIN_MULTI_CONFIG=False",
                )
                result.append(WorkerConfig(index, main, path))
                continue
            result.append(WorkerConfig(index, self.worker_settings(main, self.read(path)), path))
        return tuple(result)

    def worker_settings(self, main: Settings, envfile: EnvFile) -> Settings:
        known = spec_by_key()
        values: dict[str, str] = {}
        where: dict[str, dict[str, Any]] = {}
        for entry in envfile.entries:
            spec = known.get(entry.key)
            here = {"file": entry.file, "line": entry.line, "key": entry.key}
            if spec is None:
                self.warn("is not a known setting and is ignored", valid=self.suggest(entry.key), **here)
                continue
            if not spec.worker:
                self.warn("cannot differ per worker and is ignored in worker files", **here)
                continue
            lookup = chain_lookup(values, self.resolved, self.base, self.environ)
            values[entry.key] = entry.raw if entry.literal else expand(entry.raw, lookup)
            where[entry.key] = here
        changes: dict[str, Any] = {}
        failed: set[str] = set()
        for key, text in values.items():
            spec = known[key]
            value = convert(spec, text)
            if isinstance(value, Invalid):
                failed.add(key)
                self.error(value.message, value=text, valid=value.valid, **where[key])
                continue
            changes[spec.attr] = value
        worker = dataclasses.replace(main, **changes)
        if worker.race_type == RaceType.HEAD_TO_MODEL and "DR_RACE_TYPE" in where:
            self.error(
                "HEAD_TO_MODEL can only be evaluated, not trained",
                value="HEAD_TO_MODEL",
                valid="TIME_TRIAL, OBJECT_AVOIDANCE or HEAD_TO_BOT",
                **where["DR_RACE_TYPE"],
            )
        lane_key = "DR_H2B_LOWER_LANE_CHANGE_TIME"
        self.check_lane_change(worker, failed, where.get(lane_key, {"file": envfile.path, "key": lane_key}))
        return worker

    def note_environment_overrides(self) -> None:
        overridden = sorted(k for k, s in self.sources.items() if s.kind == "environment" and s.overrides)
        if overridden:
            names = ", ".join(overridden[:5]) + (" …" if len(overridden) > 5 else "")
            self.warn(
                f"{len(overridden)} setting(s) come from DR_* environment variables and override your files: {names}",
                valid="unset them (e.g. a DRfC shell exports them) or see `drfc config show`",
            )


def envfile_kind(envfile: EnvFile, home: Path) -> Literal["system", "run"]:
    return "system" if envfile.path == home / "system.env" else "run"


def _shown(spec: VarSpec, text: str) -> str:
    """``text`` as a problem may print it: secrets masked, also a password inside a URL."""
    if is_secret(spec.key):
        return MASK
    return mask_url(text) if spec.check == "url" else text


def _fallback(spec: VarSpec) -> Any:
    if spec.default is None:
        return None
    value = convert(spec, spec.default) if "$" not in spec.default else spec.default
    return None if isinstance(value, Invalid) else value


__all__ = [
    "Inspection",
    "LoadOptions",
    "Purpose",
    "config_error",
    "inspect_config",
    "load_config",
    "locate_home",
]
