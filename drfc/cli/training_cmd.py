"""`drfc start-training` and `drfc stop-training`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from drfc.cli.main import App, json_option

if TYPE_CHECKING:
    from drfc.config.model import Config
    from drfc.core.containers import ContainerSpec
    from drfc.core.training_plan import Credentials, TrainingPlan

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


class CliEvents:
    def __init__(self, app: App, assume_yes: bool) -> None:
        self.app = app
        self.assume_yes = assume_yes
        self._last: dict[str, str] = {}

    def step(self, message: str) -> None:
        self.app.ui.step(message)

    def confirm(self, question: str) -> bool:
        return self.app.ui.confirm(question, assume_yes=self.assume_yes)

    def states(self, states: Mapping[str, str]) -> None:
        for name, state in sorted(states.items()):
            if self._last.get(name) != state:
                self.app.ui.debug(f"{name}: {state}")
        self._last = dict(states)


def credentials_for(cfg: Config) -> Credentials | None:
    """Keys handed to the containers: the working bucket's profile, or none on AWS with instance roles."""
    from drfc.core.credentials import profile_keys
    from drfc.core.storage_service import local_keys
    from drfc.core.training_plan import Credentials

    if cfg.settings.cloud.value == "aws":
        keys = profile_keys(cfg.settings.local_s3_profile)
        return Credentials(*keys) if keys else None
    return Credentials(*local_keys(cfg))


def print_plan(app: App, plan: TrainingPlan, *, dry_run: bool) -> None:
    from drfc.core.training_plan import describe

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


def with_start_label(spec: ContainerSpec, start_id: str) -> ContainerSpec:
    import dataclasses

    from drfc.core.training import START_LABEL

    return dataclasses.replace(spec, labels={**spec.labels, START_LABEL: start_id})


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
    if dry_run:
        hyper = _local_hyperparameters(cfg)
        plan = plan_training(cfg, hyperparameters=hyper, credentials=_dry_credentials(cfg), host_env=os.environ)
        print_plan(app, plan, dry_run=True)
        return
    result = _start(app, cfg, wipe=wipe, assume_yes=force, timeout=timeout)
    if app.ui.json_mode:
        app.ui.json({**result.plan.to_dict(), "seconds": round(result.seconds, 2)})
        return
    app.ui.success(
        f"run {cfg.run_id} is training {cfg.settings.local_s3_model_prefix} with "
        f"{cfg.worker_count} worker(s) ({result.seconds:.1f}s); stop it with `drfc stop-training`"
    )
    _follow(app, cfg, follow)


def _local_hyperparameters(cfg: Config) -> dict[str, Any]:
    import json

    path = cfg.custom_files_dir / "hyperparameters.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _dry_credentials(cfg: Config) -> Credentials | None:
    from drfc.core.training_plan import Credentials
    from drfc.errors import DrfcError

    try:
        return credentials_for(cfg)
    except DrfcError:
        return Credentials("<from profile>", "<from profile>")


def _start(app: App, cfg: Config, *, wipe: bool, assume_yes: bool, timeout: float) -> Any:
    import json
    import time

    from drfc.adapters.docker_containers import ContainersBackend
    from drfc.cli.render import PullBar, SyncBar
    from drfc.cli.storage_cmd import ensure_storage
    from drfc.core import training as t
    from drfc.core.storage_service import local_target, upload_custom_files
    from drfc.core.training_plan import plan_training
    from drfc.errors import ConflictError, NotFoundError

    started = time.monotonic()
    events = CliEvents(app, assume_yes)
    engine = app.docker()
    backend = ContainersBackend(engine)
    t.check_gpu(cfg, engine.has_nvidia_runtime)
    if cfg.uses_managed_minio:
        ensure_storage(app)
    store = app.store(local_target(cfg))
    missing = t.check_custom_files(cfg, store)
    if missing and cfg.uses_managed_minio:
        app.ui.step("the bucket has no custom files: uploading custom_files/")
        with SyncBar(app.ui, "uploading") as bar:
            upload_custom_files(cfg, store, progress=bar)
        missing = t.check_custom_files(cfg, store)
    if missing:
        raise NotFoundError(
            f"custom files missing in s3://{cfg.settings.local_s3_bucket}/: {', '.join(missing)}",
            hint="upload them with `drfc upload-custom-files`",
        )
    running = backend.units(t.run_selector(cfg.run_id))
    if running:
        raise ConflictError(
            f"run {cfg.run_id} already has {len(running)} container(s): {', '.join(u.name for u in running)}",
            hint="stop it with `drfc stop-training`, or use another DR_RUN_ID",
        )
    t.check_model_prefix(cfg, store, t.StartOptions(wipe=wipe, assume_yes=assume_yes), events)
    t.check_pretrained(cfg, store)
    if not engine.image_present(cfg.simapp_image):
        app.ui.step(f"pulling {cfg.simapp_image}")
        with PullBar(app.ui, cfg.simapp_image) as bar:
            engine.pull(cfg.simapp_image, bar)
    hyper = json.loads(store.get_bytes(cfg.settings.local_s3_hyperparameters_key))
    plan = plan_training(cfg, hyperparameters=hyper, credentials=credentials_for(cfg), host_env=os.environ)
    busy = t.ports_in_use(t.planned_ports(plan))
    if busy:
        raise ConflictError(
            f"host port(s) {', '.join(map(str, busy))} needed by run {cfg.run_id} are in use",
            hint="stop what uses them, or pick another DR_RUN_ID (ports move with it)",
        )
    engine.ensure_network(cfg.network, overlay=cfg.backend == "swarm", labels={})
    prefix = cfg.settings.local_s3_model_prefix
    for name, text in plan.s3_files.items():
        store.put_bytes(f"{prefix}/{name}", text.encode(), content_type="application/x-yaml")
    store.copy(cfg.settings.local_s3_reward_key, f"{prefix}/reward_function.py")
    app.ui.step(f"starting {len(plan.containers)} container(s) for run {cfg.run_id}")
    options = t.StartOptions(wipe=wipe, assume_yes=assume_yes, startup_timeout=timeout)
    created = t.launch(plan, backend, events, options, label_specs=with_start_label)
    return t.StartResult(plan, created, time.monotonic() - started)


def _follow(app: App, cfg: Config, follow: str) -> None:
    if follow == "none" or app.options.quiet:
        return
    from drfc.core import training as t

    engine = app.docker()
    units = engine.find(t.run_selector(cfg.run_id))
    role, _, index = follow.partition(":")
    wanted = [
        u
        for u in units
        if (role == "sagemaker" and u.role == "trainer")
        or (role == "robomaker" and u.role == "robomaker" and u.labels.get("drfc.worker") == (index or "1"))
        or role == "all"
    ]
    if not wanted:
        return
    app.ui.info(f"following {wanted[0].name} (Ctrl-C stops following; training goes on)")
    try:
        for line in engine.follow_logs(wanted[0].id, tail=50):
            app.ui.print(line)
    except KeyboardInterrupt:
        app.ui.info("stopped following; the run goes on")


@click.command("stop-training")
@click.option("--grace", default=10, show_default=True, help="Seconds the trainer gets before it is killed.")
@json_option
@click.pass_obj
def stop_training(app: App, grace: int) -> None:
    """Stop and remove this run's trainer and workers (found by label). Safe to repeat."""
    from drfc.adapters.docker_containers import ContainersBackend
    from drfc.core.training import describe_units, stop_run

    cfg = app.config()
    stopped = stop_run(ContainersBackend(app.docker()), cfg.run_id, grace=grace)
    if app.ui.json_mode:
        app.ui.json({"run_id": cfg.run_id, "stopped": describe_units(stopped)})
    elif stopped:
        app.ui.success(f"stopped run {cfg.run_id}: " + ", ".join(u.name for u in stopped))
    else:
        app.ui.info(f"run {cfg.run_id} has nothing running")


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
