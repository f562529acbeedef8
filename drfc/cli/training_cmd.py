"""`drfc start-training` and `drfc stop-training`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from drfc.cli.main import App, json_option

if TYPE_CHECKING:
    from drfc.adapters.s3 import S3Store
    from drfc.config.model import Config
    from drfc.core.plan import Credentials, RunPlan
    from drfc.core.runs import Events, Recipe, StartResult
    from drfc.core.training import TrainingRecipe

NOT_RUN_IN_DRY_RUN = (
    "Docker Engine reachable",
    "GPU runtime present (for -gpu images)",
    "local store running (started when down)",
    "custom files present in S3 (uploaded when the bucket has none)",
    "no other run with this run id",
    "model prefix empty (or --wipe)",
    "pretrained model and checkpoint present (when DR_LOCAL_S3_PRETRAINED)",
    "simapp image present (pulled when missing)",
    "host ports free",
    "network sagemaker-local present (created when missing)",
)


def credentials_for(cfg: Config) -> Credentials | None:
    """Keys handed to the containers: the working bucket's profile, or none on AWS with instance roles."""
    from drfc.core.credentials import profile_keys
    from drfc.core.plan import Credentials
    from drfc.core.storage_service import local_keys

    if cfg.settings.cloud.value == "aws":
        keys = profile_keys(cfg.settings.local_s3_profile)
        return Credentials(*keys) if keys else None
    return Credentials(*local_keys(cfg))


def print_plan(app: App, plan: RunPlan, *, dry_run: bool) -> None:
    from drfc.core.plan import describe

    if app.ui.json_mode:
        document = plan.to_dict()
        if dry_run:
            document["checks_not_run"] = list(NOT_RUN_IN_DRY_RUN)
        app.ui.json(document)
        return
    rows = []
    for spec in plan.containers:
        d = describe(spec)
        ports = ", ".join(f"{host}->{c}" for c, host in d["ports"].items())
        rows.append(
            (d["name"], d["role"], d["worker"] or "", d["image"], d["command"], ports, "yes" if d["gpu"] else "")
        )
    title = f"run {plan.run_id} ({plan.backend}, network {plan.network}, model {plan.model_prefix})"
    app.ui.table(("Container", "Role", "Worker", "Image", "Command", "Ports", "GPU"), rows, title=title)
    if dry_run:
        app.ui.info("dry run: nothing was created. Checks not run: " + "; ".join(NOT_RUN_IN_DRY_RUN))


@click.command("start-training")
@click.option("-w", "--wipe", is_flag=True, help="Delete what is under the model prefix first (asks unless -f).")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Print the plan; needs neither Docker nor S3.")
@click.option(
    "--follow",
    default="sagemaker",
    show_default=True,
    metavar="sagemaker|robomaker[:N]|all|none",
    help="Logs to stream once running.",
)
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for every container to run.")
@json_option
@click.pass_obj
def start_training(app: App, wipe: bool, force: bool, dry_run: bool, follow: str, timeout: float) -> None:
    """Start the trainer and the Robomaker workers of this run."""
    from drfc.core.training_plan import plan_training

    cfg = app.config("training")
    follow_choice = parse_follow(follow)
    if dry_run:
        hyper = _local_hyperparameters(cfg)
        plan = plan_training(cfg, hyperparameters=hyper, credentials=_dry_credentials(cfg), host_env=os.environ)
        print_plan(app, plan, dry_run=True)
        return
    result = start_with(app, cfg, _training_recipe(cfg), wipe=wipe, assume_yes=force, timeout=timeout)
    if app.ui.json_mode:
        app.ui.json({**result.plan.to_dict(), "seconds": round(result.seconds, 2)})
        return
    app.ui.success(
        f"run {cfg.run_id} is training {cfg.settings.local_s3_model_prefix} with "
        f"{cfg.worker_count} worker(s) ({result.seconds:.1f}s); stop it with `drfc stop-training`"
    )
    follow_run(app, cfg.run_id, "training", follow_choice)


def parse_follow(value: str) -> tuple[str, int | None] | None:
    """``sagemaker`` / ``robomaker[:N]`` / ``all`` / ``none`` -> (role, worker) or None."""
    role, sep, index = value.partition(":")
    if role == "none" and not sep:
        return None
    if role in ("sagemaker", "all") and not sep:
        return role, None
    if role == "robomaker" and (not sep or index.isdigit()):
        return role, int(index) if sep else None
    raise click.BadParameter(
        f"{value!r}: choose sagemaker, robomaker, robomaker:N (worker N), all or none", param_hint="--follow"
    )


def follow_run(app: App, run_id: int, kind: str, choice: tuple[str, int | None] | None) -> None:
    """Stream the chosen logs of a run that just started; Ctrl-C stops following, not the run."""
    if choice is None or app.options.quiet or app.ui.json_mode:
        return
    from functools import partial

    from drfc.cli.logs_cmd import stream_units
    from drfc.core.runs import run_selector, unit_selector
    from drfc.core.status import unit_failures
    from drfc.errors import RunFailedError

    backend = app.backend()
    role, worker = choice
    if role == "all":
        selector = run_selector(run_id, kind)
    elif role == "sagemaker":
        selector = unit_selector(run_id, kind, "trainer")
    else:
        selector = unit_selector(run_id, kind, "robomaker", worker or 1)
    units = backend.units(selector)
    if not units:
        return
    app.ui.info(f"following {', '.join(u.name for u in units)} (Ctrl-C stops following; the run goes on)")
    if not stream_units(app, backend, units, tail=50):
        return
    # The streams ended with their units: a failure (often a trainer that logged an error and exited 0)
    # makes the command fail, so scripts that wait on `start-training` see it.
    followed = {u.id for u in units}
    ended = [u for u in backend.units(selector) if u.id in followed]
    failures = [f for u in ended for f in unit_failures(u, partial(backend.logs, u.id, tail=400))]
    if failures:
        raise RunFailedError("; ".join(failures), hint="see `drfc status` and `drfc logs`")


def _local_hyperparameters(cfg: Config) -> dict[str, Any]:
    import json

    path = cfg.custom_files_dir / "hyperparameters.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _dry_credentials(cfg: Config) -> Credentials | None:
    from drfc.core.plan import Credentials
    from drfc.errors import DrfcError

    try:
        return credentials_for(cfg)
    except DrfcError:
        return Credentials("<from profile>", "<from profile>")


def _training_recipe(cfg: Config) -> TrainingRecipe:
    from drfc.core.training import TrainingRecipe

    def upload(store: S3Store, events: Events) -> None:
        from drfc.core.storage_service import upload_custom_files

        with events.uploading("uploading") as bar:
            upload_custom_files(cfg, store, progress=bar)

    return TrainingRecipe(
        cfg, credentials_for(cfg), dict(os.environ), upload_custom_files=upload if cfg.uses_managed_minio else None
    )


def start_with(app: App, cfg: Config, recipe: Recipe, *, wipe: bool, assume_yes: bool, timeout: float) -> StartResult:
    """The CLI side of a start (training or evaluation): the local store first, then the core sequence."""
    from drfc.cli.render import StartEvents
    from drfc.cli.storage_cmd import ensure_storage
    from drfc.core.runs import StartOptions, start_run
    from drfc.core.storage_service import local_target

    backend = app.backend()
    if cfg.uses_managed_minio:
        ensure_storage(app)
    store = app.store(local_target(cfg))
    events = StartEvents(app.ui, assume_yes)
    options = StartOptions(wipe=wipe, assume_yes=assume_yes, startup_timeout=timeout)
    try:
        return start_run(cfg, backend, store, events, recipe, options)
    finally:
        events.close()


@click.command("stop-training")
@click.option("--grace", default=10, show_default=True, help="Seconds the trainer gets before it is killed.")
@json_option
@click.pass_obj
def stop_training(app: App, grace: int) -> None:
    """Stop and remove this run's trainer and workers (found by label). Safe to repeat."""
    stop_kind(app, "training", grace)


def stop_kind(app: App, kind: str, grace: int) -> None:
    """`stop-training` and `stop-evaluation`: this run id's units of one kind."""
    from drfc.core.runs import describe_units, stop_run

    cfg = app.config()
    with app.ui.status(f"stopping the {kind} of run {cfg.run_id}"):
        stopped = stop_run(app.backend(), cfg.run_id, kind=kind, grace=grace)
    if app.ui.json_mode:
        app.ui.json({"run_id": cfg.run_id, "kind": kind, "stopped": describe_units(stopped)})
    elif stopped:
        app.ui.success(f"stopped the {kind} of run {cfg.run_id}: " + ", ".join(u.name for u in stopped))
    else:
        app.ui.info(f"run {cfg.run_id} has no {kind} running")


@click.command("stop-all")
@click.option("--grace", default=10, show_default=True, help="Seconds each trainer gets before it is killed.")
@click.option("--storage", is_flag=True, help="Also stop the managed MinIO (its data is kept).")
@json_option
@click.pass_obj
def stop_all(app: App, grace: int, storage: bool) -> None:
    """Stop every training and evaluation drfc started on this engine, whatever the run id or home.

    Only what carries drfc's labels is touched: other containers, stacks and projects are left alone.
    """
    from drfc.adapters.docker_containers import ContainersBackend
    from drfc.adapters.docker_swarm import SwarmBackend
    from drfc.core.runs import Backend, describe_units, stop_everything

    engine = app.docker()
    backends: list[Backend] = [ContainersBackend(engine)]
    if engine.swarm_active():
        backends.insert(0, SwarmBackend(engine))  # services first: their task containers go with them
    with app.ui.status("stopping every drfc run"):
        stopped = [unit for backend in backends for unit in stop_everything(backend, grace=grace)]
    store_name = None
    if storage:
        from drfc.core.storage_service import stop_storage

        store_name = stop_storage(engine)
    if app.ui.json_mode:
        app.ui.json({"stopped": describe_units(stopped), "storage": store_name})
        return
    if stopped:
        app.ui.success("stopped " + ", ".join(u.name for u in stopped))
    else:
        app.ui.info("no drfc run is running")
    if store_name:
        app.ui.success(f"stopped the local store ({store_name}); its data is kept")


@click.command("increment-training")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("-w", "--wipe", is_flag=True, help="Also empty the new model prefix in the bucket if it holds anything.")
@click.option("-p", "--prefix", "new_prefix", help="Name of the new model (default: the next number).")
@click.option("-d", "--delimiter", default="-", show_default=True, help="Separator before the number.")
@json_option
@click.pass_obj
def increment_training(app: App, force: bool, wipe: bool, new_prefix: str | None, delimiter: str) -> None:
    """Continue from the current model: it becomes the pretrained one, training goes on under a new name.

    Edits the active run file (as `config set` does): DR_LOCAL_S3_PRETRAINED_PREFIX, DR_LOCAL_S3_PRETRAINED
    and DR_LOCAL_S3_MODEL_PREFIX.
    """
    from drfc.core.configset import apply_settings
    from drfc.core.increment import next_name
    from drfc.errors import AbortedError, ConfigError

    cfg = app.config()
    old = cfg.settings.local_s3_model_prefix
    try:
        new = new_prefix or next_name(old, delimiter)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if new == old:
        raise ConfigError(f"the new model prefix equals the current one ({old})", hint="pass another name with -p")
    question = f"Train {new} starting from {old}?"
    if not app.ui.confirm(question, assume_yes=force):
        raise AbortedError("nothing was changed", hint="pass -f to skip the question")
    values = {"DR_LOCAL_S3_PRETRAINED_PREFIX": old, "DR_LOCAL_S3_PRETRAINED": "True", "DR_LOCAL_S3_MODEL_PREFIX": new}
    changes = apply_settings(app.load_options("any"), values, "run")
    wiped = 0
    if wipe:
        from drfc.core.storage_service import local_target

        store = app.store(local_target(cfg))
        if not store.prefix_is_empty(new):
            where = f"s3://{cfg.settings.local_s3_bucket}/{new}/"
            if not app.ui.confirm(f"Delete everything under {where}?", assume_yes=force):
                raise AbortedError(f"{where} was not wiped (the run file was already updated)")
            wiped = store.delete_prefix(new)
    if app.ui.json_mode:
        app.ui.json({"from": old, "to": new, "file": str(changes[0].file), "wiped": wiped})
        return
    app.ui.success(f"training continues from {old} as {new} ({changes[0].file})")
    if wiped:
        app.ui.info(f"deleted {wiped} object(s) under {new}/")
