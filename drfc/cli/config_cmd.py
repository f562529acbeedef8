"""`drfc config show | validate | get | set`."""

from __future__ import annotations

from typing import Any

import click

from drfc.cli.main import App, json_option, normalise_key, parse_set


@click.group()
def config() -> None:
    """Inspect, check and change the configuration."""


@config.command()
@click.option("--all", "show_all", is_flag=True, help="Also list optional settings that are not set.")
@json_option
@click.pass_obj
def show(app: App, show_all: bool) -> None:
    """Every effective value and the file and line it came from.

    With --json, one object mapping each DR_* name to its typed value.
    """
    from drfc.config.schema import specs

    cfg = app.config()
    values = cfg.typed_values()
    if app.ui.json_mode:
        app.ui.json(values)
        return
    rows = []
    for spec in specs():
        value = values[spec.key]
        if value is None and not show_all:
            continue
        source = cfg.sources.get(spec.key)
        rows.append((spec.key, _display(value), source.describe(cfg.home) if source else "not set"))
    rows += [(key, _display(values[key]), "computed") for key in cfg.computed()]
    title = f"{cfg.system_file} + {cfg.run_file}"
    if cfg.experiment:
        title += f" (experiment {cfg.experiment})"
    app.ui.table(("Setting", "Value", "Source"), rows, title=title)


def _display(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


@config.command()
@click.option(
    "--for",
    "purpose",
    type=click.Choice(["training", "evaluation", "any"]),
    default="training",
    show_default=True,
    help="Also apply the rules of this kind of run (e.g. HEAD_TO_MODEL is evaluation-only).",
)
@click.option("--no-custom-files", is_flag=True, help="Skip the checks of custom_files/.")
@json_option
@click.pass_context
def validate(ctx: click.Context, purpose: str, no_custom_files: bool) -> None:
    """Check the configuration and custom files; report every problem at once.

    Exits 0 when valid, 3 when the configuration is invalid, 4 when only the
    custom files are.
    """
    from drfc.config.customfiles import validate_custom_files
    from drfc.config.load import inspect_config

    app: App = ctx.obj
    found = inspect_config(app.load_options(purpose))  # type: ignore[arg-type]
    problems = list(found.problems)
    custom_problems = []
    if found.config is not None and not no_custom_files:
        custom_problems = validate_custom_files(found.config.custom_files_dir)
    problems += custom_problems
    errors = [p for p in problems if p.is_error]
    warnings = [p for p in problems if not p.is_error]
    ui = app.ui
    if ui.json_mode:
        ui.json(
            {
                "valid": not errors,
                "home": str(found.home),
                "errors": [p.to_dict(found.home) for p in errors],
                "warnings": [p.to_dict(found.home) for p in warnings],
            }
        )
    else:
        for problem in errors:
            ui.error(problem.render(found.home))
        for problem in warnings:
            ui.warning(problem.render(found.home))
        if not errors:
            suffix = f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings else ""
            ui.success(f"configuration in {found.home} is valid{suffix}")
        else:
            ui.info(f"{len(errors)} error(s), {len(warnings)} warning(s)")
    if errors:
        only_custom = all(p in custom_problems for p in errors)
        ctx.exit(4 if only_custom else 3)


@config.command()
@click.argument("key")
@json_option
@click.pass_obj
def get(app: App, key: str) -> None:
    """Print the effective value of KEY (DR_ prefix optional)."""
    from drfc.config.problems import suggest
    from drfc.config.schema import spec_by_key
    from drfc.errors import ConfigError

    name = normalise_key(key)
    cfg = app.config()
    values = cfg.typed_values()
    if name not in values:
        raise ConfigError(f"{name} is not a drfc setting", hint=suggest(name, spec_by_key()))
    value = values[name]
    if app.ui.json_mode:
        app.ui.json({name: value})
    else:
        app.ui.print("" if value is None else _display(value))


@config.command(name="set")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...", callback=parse_set)
@click.option(
    "--file",
    "target",
    type=click.Choice(["auto", "system", "run"]),
    default="auto",
    show_default=True,
    help="File to write: where the key is defined now (auto), system.env, or the active run file.",
)
@json_option
@click.pass_obj
def set_(app: App, assignments: dict[str, str], target: str) -> None:
    """Change settings in the file that defines them, keeping comments and order.

    The new values are validated first; nothing is written if any is invalid.
    """
    from drfc.core.configset import apply_settings

    changes = apply_settings(app.load_options("any"), assignments, target)  # type: ignore[arg-type]
    ui = app.ui
    if ui.json_mode:
        ui.json({"changed": [c.to_dict() for c in changes]})
        return
    for change in changes:
        ui.success(f"{change.key}={change.shown} in {change.file}")
        if change.overridden_by:
            ui.warning(f"{change.key} is also set by {change.overridden_by}, which takes precedence")
