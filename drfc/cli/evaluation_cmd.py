"""`drfc start-evaluation`, `drfc stop-evaluation` and `drfc evaluation report`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from drfc.cli.main import App, json_option

if TYPE_CHECKING:
    from drfc.core.evaluation_report import Evaluation
    from drfc.core.runs import Backend

NOT_RUN_IN_DRY_RUN = (
    "Docker Engine reachable",
    "GPU runtime present (for -gpu images)",
    "local store running (started when down)",
    "no other evaluation with this run id (a finished one is removed)",
    "model has a usable checkpoint (deepracer_checkpoints.json and the files it names)",
    "opponent has a usable checkpoint (HEAD_TO_MODEL)",
    "simapp image present (pulled when missing)",
    "host port free",
    "network sagemaker-local present (created when missing)",
)


@click.command("start-evaluation")
@click.option(
    "-c",
    "--clone",
    is_flag=True,
    help="Evaluate a copy: model/ and ip/ are mirrored to <prefix>-E (replacing what a previous "
    "--clone put there) and the copy is evaluated; the model itself is never modified.",
)
@click.option(
    "--checkpoint",
    type=click.Choice(["best", "last"]),
    help="Checkpoint to evaluate.  [default: DR_EVAL_CHECKPOINT]",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not follow the log; print only the result.")
@click.option("--follow/--no-follow", default=True, show_default=True, help="Stream the log until it ends.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the YAML; needs neither Docker nor S3.")
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for the container to run.")
@json_option
@click.pass_obj
def start_evaluation(
    app: App, clone: bool, checkpoint: str | None, quiet: bool, follow: bool, dry_run: bool, timeout: float
) -> None:
    """Evaluate this run's model in one Robomaker (port 8180 + run id), beside a training if one runs.

    Metrics, simtrace and (with DR_EVAL_SAVE_MP4=True) videos are stored under time-stamped keys, so
    evaluations never overwrite each other; `drfc evaluation report` reads them back.
    """
    import os

    from drfc.cli.training_cmd import credentials_for, start_with
    from drfc.core.evaluation import EvaluationRecipe, clear_finished, describe_start, trainings_of

    if quiet:
        app.ui.quiet = True
    cfg = app.config("evaluation")
    choice = checkpoint or cfg.settings.eval_checkpoint.value
    if dry_run:
        _dry_run(app, clone=clone, checkpoint=choice)
        return
    backend = app.backend()
    removed = clear_finished(backend, cfg.run_id)
    if removed:
        app.ui.step("removed the finished evaluation " + ", ".join(f"{u.name} ({u.status})" for u in removed))
    prefix = cfg.settings.local_s3_model_prefix
    if not clone and trainings_of(backend, cfg, prefix):
        app.ui.warning(
            f"{prefix} is being trained right now, and the evaluation rewrites its model/.coach_checkpoint; "
            "`drfc start-evaluation --clone` evaluates a copy instead"
        )
    recipe = EvaluationRecipe(cfg, credentials_for(cfg), dict(os.environ), checkpoint=choice, clone=clone)
    result = start_with(app, cfg, recipe, wipe=False, assume_yes=True, timeout=timeout)
    if app.ui.json_mode:
        document = {**result.plan.to_dict(), "seconds": round(result.seconds, 2)}
        app.ui.json({**document, "evaluation": describe_start(recipe)})
        return
    s = cfg.settings
    app.ui.success(
        f"run {cfg.run_id} is evaluating {recipe.prefix} ({choice} checkpoint {recipe.checkpoint_name}, "
        f"{s.eval_number_of_trials} trial(s) of {s.race_type.value} on {s.world_name}, {result.seconds:.1f}s); "
        "stop it with `drfc stop-evaluation`"
    )
    if not follow or quiet or app.options.quiet:
        app.ui.info("follow it with `drfc logs robomaker --eval -f`; results: `drfc evaluation report`")
        return
    if _follow_until_ended(app, backend, cfg.run_id):
        app.ui.info("the evaluation ended; see `drfc evaluation report`")


def _follow_until_ended(app: App, backend: Backend, run_id: int) -> bool:
    """Stream the evaluation's log until it ends; True when it did, False after Ctrl-C (it goes on)."""
    from drfc.cli.logs_cmd import stream_units
    from drfc.core.runs import run_selector

    units = backend.units(run_selector(run_id, "evaluation"))
    if not units:
        return True
    app.ui.info(f"following {units[0].name} until the evaluation ends (Ctrl-C stops following; it goes on)")
    return stream_units(app, backend, units[:1], tail=50)


def _dry_run(app: App, *, clone: bool, checkpoint: str) -> None:
    import os

    from drfc.cli.training_cmd import _dry_credentials, print_plan
    from drfc.core.evaluation import clone_prefix, plan_evaluation, utc_now
    from drfc.core.params import STAMP_FORMAT

    cfg = app.config("evaluation")
    source = cfg.settings.local_s3_model_prefix
    prefix = clone_prefix(source) if clone else source
    stamp = utc_now().strftime(STAMP_FORMAT)
    plan = plan_evaluation(
        cfg, prefix=prefix, stamp=stamp, checkpoint=checkpoint, credentials=_dry_credentials(cfg), host_env=os.environ
    )
    files = {f"{prefix}/{name}": body for name, body in plan.s3_files.items()}
    if app.ui.json_mode:
        document = plan.to_dict()
        document["evaluation"] = {
            "model_prefix": prefix,
            "source_prefix": source,
            "clone": clone,
            "checkpoint": checkpoint,
            "stamp": stamp,
        }
        document["files"] = files
        document["checks_not_run"] = list(NOT_RUN_IN_DRY_RUN)
        app.ui.json(document)
        return
    print_plan(app, plan, dry_run=False)
    name = f"{prefix}/{cfg.settings.local_s3_eval_params_file}"
    app.ui.print(f"s3://{cfg.settings.local_s3_bucket}/{name}:")
    app.ui.print(files[name].rstrip("\n"))
    if clone:
        app.ui.info(f"--clone: {source}/model and {source}/ip would be mirrored to {prefix}/ first")
    app.ui.info("dry run: nothing was created. Checks not run: " + "; ".join(NOT_RUN_IN_DRY_RUN))


@click.command("stop-evaluation")
@json_option
@click.pass_obj
def stop_evaluation(app: App) -> None:
    """Stop and remove this run's evaluation (found by label). Safe to repeat."""
    from drfc.cli.training_cmd import stop_kind

    stop_kind(app, "evaluation", 2)


@click.group("evaluation")
def evaluation() -> None:
    """Results of evaluations."""


@evaluation.command("report")
@click.option("--latest/--all", "latest", default=True, show_default=True, help="Only the newest evaluation.")
@click.option("--presign", is_flag=True, help="Add time-limited links to the videos.")
@click.option("--expires", default="1h", show_default=True, help="Lifetime of --presign links (30m, 12h, 7d).")
@json_option
@click.pass_obj
def report(app: App, latest: bool, presign: bool, expires: str) -> None:
    """Lap times, progress, resets and collisions of the model's evaluations (and its -E clone's), per trial.

    Reads the evaluation metrics the simapp wrote to S3; also lists the simtrace and the video keys.
    """
    from drfc.cli.logs_cmd import parse_duration
    from drfc.core.evaluation import clone_prefix, metrics_prefix_for
    from drfc.core.evaluation_report import collect
    from drfc.core.storage_service import local_target
    from drfc.errors import NotFoundError

    lifetime = parse_duration(expires)
    cfg = app.config()
    store = app.store(local_target(cfg))
    signer = (lambda key: store.presign(key, expires=lifetime)) if presign else None
    found = collect(cfg, store, everything=not latest, presign=signer)
    if not found:
        prefix = cfg.settings.local_s3_model_prefix
        places = sorted({f"{metrics_prefix_for(cfg, p)}/evaluation/" for p in (prefix, clone_prefix(prefix))})
        raise NotFoundError(
            f"no evaluation of {prefix} in s3://{cfg.settings.local_s3_bucket}/ ({' or '.join(places)})",
            hint="start one with `drfc start-evaluation`",
        )
    if app.ui.json_mode:
        app.ui.json({"evaluations": [e.to_dict() for e in found]})
        return
    for index, item in enumerate(found):
        if index:
            app.ui.print()
        _render(app, item)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _render(app: App, e: Evaluation) -> None:
    ui = app.ui
    what = ", ".join(
        part
        for part in (
            e.race_type,
            f"track {e.world}" if e.world else None,
            f"{e.checkpoint} checkpoint" if e.checkpoint else None,
            f"{len(e.trials)}/{e.trials_expected} trials" if e.trials_expected else f"{len(e.trials)} trials",
            e.state,
        )
        if part
    )
    rows: list[tuple[Any, ...]] = [
        (
            t.trial,
            _seconds(t.lap_time),
            f"{t.progress:.1f}",
            t.status,
            t.resets,
            t.off_track,
            "" if t.collisions is None else t.collisions,
            "yes" if t.completed else "no",
        )
        for t in e.trials
    ]
    ui.print(f"evaluation {e.started} of {e.model_prefix}: {what}")
    ui.table(
        ("Trial", "Lap time (s)", "Progress (%)", "Status", "Resets", "Off track", "Collisions", "Completed"), rows
    )
    s = e.summary
    line = f"completed {s.completed}/{s.trials}"
    if s.best_lap is not None:
        line += f", best lap {_seconds(s.best_lap)} s, average lap {_seconds(s.average_lap)} s"
    if s.average_progress is not None:
        line += f", average progress {s.average_progress:.1f} %"
    line += f", resets {s.resets}, off track {s.off_track}"
    if s.collisions is not None:
        line += f", collisions {s.collisions}"
    ui.print(line)
    ui.print(f"metrics:  {e.metrics_key}")
    if e.simtrace_key:
        ui.print(f"simtrace: {e.simtrace_key}")
    for video in e.videos:
        ui.print(f"video:    {video.key}" + (f"\n          {video.url}" if video.url else ""))
