"""The root ``drfc`` group, the application object, and the one error boundary.

Only click is imported at module level here and in every command module:
SDKs (boto3, docker, minio) and rich are imported inside functions, so
``drfc --help`` costs about as much as ``import click``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from drfc import __version__
from drfc.errors import ConfigError, DrfcError

if TYPE_CHECKING:
    from pathlib import Path

    from drfc.adapters.docker_engine import DockerEngine
    from drfc.adapters.s3 import S3Store
    from drfc.config.load import Purpose
    from drfc.config.model import Config
    from drfc.core.runs import Backend
    from drfc.core.storage import S3Target
    from drfc.ui import UI


class GlobalOptions:
    """The root group's options (a plain class: importing dataclasses would slow `drfc --help`)."""

    def __init__(
        self,
        home: Path | None = None,
        run_env: Path | None = None,
        experiment: str | None = None,
        json: bool = False,
        debug: bool = False,
        quiet: bool = False,
        verbose: int = 0,
        overrides: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.run_env = run_env
        self.experiment = experiment
        self.json = json
        self.debug = debug
        self.quiet = quiet
        self.verbose = verbose
        self.overrides = dict(overrides or {})


class App:
    """What every command needs: options, output, configuration and clients, built on demand."""

    def __init__(self, options: GlobalOptions, ui: UI | None = None) -> None:
        self.options = options
        self._ui = ui
        self._configs: dict[str, Config] = {}
        self._warned = False
        self._docker: DockerEngine | None = None
        self._stores: dict[S3Target, S3Store] = {}

    def docker(self) -> DockerEngine:
        """The Docker Engine adapter, connected on first use."""
        if self._docker is None:
            from drfc.adapters.docker_engine import DockerEngine

            self._docker = DockerEngine()
        return self._docker

    def backend(self) -> Backend:
        """The backend DR_DOCKER_STYLE picks: plain containers, or Swarm services."""
        engine = self.docker()
        if self.config().backend == "swarm":
            from drfc.adapters.docker_swarm import SwarmBackend

            return SwarmBackend(engine)
        from drfc.adapters.docker_containers import ContainersBackend

        return ContainersBackend(engine)

    def store(self, target: S3Target) -> S3Store:
        """The S3 facade for ``target``, one per target per command (so one boto3 session and client);
        its credentials are registered as secrets with the UI."""
        if target in self._stores:
            return self._stores[target]
        from drfc.adapters.s3 import S3Store

        if target.profile:
            from drfc.core.credentials import profile_keys

            keys = profile_keys(target.profile)
            if keys:
                self.ui.add_secret(keys[1])
        self.ui.add_secret(os.environ.get("AWS_SECRET_ACCESS_KEY"))
        self._stores[target] = S3Store(target)
        return self._stores[target]

    @property
    def ui(self) -> UI:
        if self._ui is None:
            from drfc.ui import UI

            self._ui = UI(json_mode=self.options.json, quiet=self.options.quiet, verbose=self.options.verbose)
        return self._ui

    def set_json(self, enabled: bool) -> None:
        if enabled:
            self.options.json = True
            self.ui.json_mode = True

    def load_options(self, purpose: Purpose = "any") -> Any:
        from drfc.config.load import LoadOptions

        o = self.options
        return LoadOptions(o.home, o.run_env, o.experiment, dict(o.overrides), purpose)

    def config(self, purpose: Purpose = "any") -> Config:
        """The validated configuration; warnings are shown once per command."""
        if purpose not in self._configs:
            from drfc.config.load import load_config

            cfg = load_config(self.load_options(purpose))
            self._configs[purpose] = cfg
            self.ui.add_secret(cfg.settings.droa_password)
            if not self._warned:
                self._warned = True
                for problem in cfg.warnings:
                    self.ui.warning(problem.render(cfg.home))
        return self._configs[purpose]


def parse_set(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx=ctx, param=param)
        result[normalise_key(key)] = value
    return result


def normalise_key(key: str) -> str:
    """``workers`` / ``dr_workers`` / ``DR_WORKERS`` all name DR_WORKERS."""
    key = key.strip().upper()
    return key if key.startswith("DR_") else f"DR_{key}"


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class DrfcGroup(click.Group):
    """The root group: subcommand failures pass through ``handle_errors``."""

    def invoke(self, ctx: click.Context) -> Any:
        return handle_errors(ctx, lambda: super(DrfcGroup, self).invoke(ctx))


@click.group(cls=DrfcGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="drfc", message="%(prog)s %(version)s")
@click.option(
    "--dir",
    "home",
    type=click.Path(file_okay=False),
    help="DRfC home holding system.env and run.env. [env var: DR_DIR; default: current directory]",
)
@click.option("--run-env", type=click.Path(dir_okay=False), help="Run file to use instead of run.env.")
@click.option("-e", "--experiment", help="Use experiments/NAME/. [env var: DR_EXPERIMENT_NAME]")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    callback=parse_set,
    help="Override a setting for this command only (repeatable); beats files and environment.",
)
@click.option("--json", "json_mode", is_flag=True, help="Print results as one JSON document on stdout.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
@click.option("-v", "--verbose", count=True, help="Print more about what drfc does.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: str | None,
    run_env: str | None,
    experiment: str | None,
    overrides: dict[str, str],
    json_mode: bool,
    debug: bool,
    quiet: bool,
    verbose: int,
) -> None:
    """Train AWS DeepRacer models on your own machines.

    drfc reads DeepRacer-for-Cloud's system.env and run.env unchanged.
    Start with `drfc init`, then `drfc start-training`.
    """
    if isinstance(ctx.obj, App):  # injected by tests
        return
    from pathlib import Path

    ctx.obj = App(
        GlobalOptions(
            Path(home) if home else None,
            Path(run_env) if run_env else None,
            experiment,
            json_mode,
            debug,
            quiet,
            verbose,
            overrides,
        )
    )


def checkpoint_options(func: Any) -> Any:
    """``--last`` (default) / ``-b, --best`` / ``-c, --checkpoint N``, one choice."""
    func = click.option(
        "-c", "--checkpoint", "number", type=click.IntRange(min=0), metavar="N", help="Checkpoint number N."
    )(func)
    func = click.option("-b", "--best", "best", is_flag=True, help="The best checkpoint (by evaluation).")(func)
    return click.option("--last", "last", is_flag=True, help="The last checkpoint written (default).")(func)


def json_option(func: Any) -> Any:
    """``--json`` on a command, equivalent to the global flag."""

    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        if value and isinstance(ctx.obj, App):
            ctx.obj.set_json(True)
        return value

    return click.option(
        "--json",
        "json_flag",
        is_flag=True,
        expose_value=False,
        callback=callback,
        help="Print results as one JSON document on stdout.",
    )(func)


def _register() -> None:
    from drfc.cli import config_cmd, files_cmd, init_cmd, logs_cmd, status_cmd, storage_cmd, training_cmd

    cli.add_command(init_cmd.init)
    cli.add_command(config_cmd.config)
    cli.add_command(storage_cmd.storage)
    cli.add_command(storage_cmd.s3)
    cli.add_command(files_cmd.upload_custom_files)
    cli.add_command(files_cmd.download_custom_files)
    cli.add_command(training_cmd.start_training)
    cli.add_command(training_cmd.stop_training)
    cli.add_command(training_cmd.stop_all)
    cli.add_command(training_cmd.increment_training)
    cli.add_command(logs_cmd.logs)
    cli.add_command(status_cmd.status)
    from drfc.cli import upload_cmd

    cli.add_command(upload_cmd.upload)
    cli.add_command(upload_cmd.upload, name="upload-model")
    cli.add_command(upload_cmd.car)
    cli.add_command(upload_cmd.download_model)
    cli.add_command(upload_cmd.increment_upload_model)
    from drfc.cli import evaluation_cmd

    cli.add_command(evaluation_cmd.start_evaluation)
    cli.add_command(evaluation_cmd.stop_evaluation)
    cli.add_command(evaluation_cmd.evaluation)
    from drfc.cli import models_cmd

    cli.add_command(models_cmd.models)


_register()


# --- the error boundary ---------------------------------------------------------------------------------


def render_error(exc: DrfcError, ui: UI) -> None:
    """One-line message (plus problems and a hint) on stderr; in JSON mode also an error object."""
    if ui.json_mode:
        payload: dict[str, Any] = {"type": type(exc).__name__, "message": exc.message, "exit_code": exc.exit_code}
        if isinstance(exc, ConfigError):
            payload["problems"] = exc.problems
        if exc.hint:
            payload["hint"] = exc.hint
        ui.json({"error": payload})
    ui.error(exc.message)
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            ui.err.print(f"  • {ui.redact(problem)}", markup=False, highlight=False)
    if exc.hint:
        ui.hint(exc.hint)


def handle_errors(ctx: click.Context, call: Callable[[], Any]) -> Any:
    """Map every failure of a command to a message and an exit code; nowhere else does this."""

    def debug() -> bool:
        """Read when an error is handled: the root callback stores the options only once it ran."""
        app = ctx.obj if isinstance(ctx.obj, App) else None
        return (app.options.debug if app else False) or os.environ.get("DRFC_DEBUG", "") not in ("", "0")

    def ui() -> UI:
        if isinstance(ctx.obj, App):
            return ctx.obj.ui
        from drfc.ui import UI

        return UI()

    def traceback_if_debug() -> None:
        if debug():
            import traceback

            traceback.print_exc()

    try:
        return call()
    except (click.exceptions.Exit, click.ClickException):
        raise
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            ui().error("interrupted")
            raise click.exceptions.Exit(130) from None
        ui().error("aborted")
        raise click.exceptions.Exit(7) from None
    except DrfcError as exc:
        traceback_if_debug()
        render_error(exc, ui())
        raise click.exceptions.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        ui().error("interrupted")
        raise click.exceptions.Exit(130) from None
    except BrokenPipeError:
        # The reader went away (`drfc ... | head`): exit quietly, as for SIGPIPE, without a flush error at exit.
        import contextlib
        import sys

        with contextlib.suppress(OSError, ValueError):  # stdout is not a real file (e.g. under a test runner)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise click.exceptions.Exit(141) from None
    except Exception as exc:
        traceback_if_debug()
        u = ui()
        u.error(f"unexpected {type(exc).__name__}: {u.redact(str(exc))}")
        u.hint("this is a bug in drfc; re-run with --debug for the traceback and report it")
        raise click.exceptions.Exit(1) from None


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    import gc

    try:
        cli.main(args=argv, prog_name="drfc")
    finally:
        # The interpreter's last collections at exit walk every object botocore and the Docker SDK
        # built (0.1-0.2 s after a start-training, measured); the process ends now, so skip them.
        gc.freeze()
