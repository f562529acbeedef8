"""`drfc status`: every drfc run on this engine, with training progress read from S3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from drfc.cli.main import App, json_option

if TYPE_CHECKING:
    from collections.abc import Mapping

    from drfc.adapters.s3 import S3Store
    from drfc.config.model import Config
    from drfc.core.containers import ContainerInfo
    from drfc.core.status import RunProgress


def _uptime(started_at: str | None) -> float | None:
    from datetime import datetime, timezone

    if not started_at or started_at.startswith("0001"):
        return None
    try:
        started = datetime.fromisoformat(started_at[:26].rstrip("Z") + "+00:00")
    except ValueError:
        return None
    return max(0.0, (datetime.now(timezone.utc) - started).total_seconds())


def _read_progress(cfg: Config, store: S3Store, prefix: str, workers: int) -> RunProgress:
    import json

    from drfc.core.status import RunProgress, iteration_of, metrics_key, worker_progress

    progress = RunProgress()
    model = f"{prefix}/model"
    if store.exists(f"{model}/.coach_checkpoint"):
        progress.iteration = iteration_of(store.get_bytes(f"{model}/.coach_checkpoint").decode("utf-8", "replace"))
    if store.exists(f"{model}/deepracer_checkpoints.json"):
        try:
            checkpoints = json.loads(store.get_bytes(f"{model}/deepracer_checkpoints.json"))
            progress.best_checkpoint = (checkpoints.get("best_checkpoint") or {}).get("name")
            progress.last_checkpoint = (checkpoints.get("last_checkpoint") or {}).get("name")
        except ValueError:
            pass
    progress.finished = store.exists(f"{model}/.finished")
    metrics_prefix = (
        cfg.settings.local_s3_metrics_prefix if prefix == cfg.settings.local_s3_model_prefix else (f"{prefix}/metrics")
    )
    for index in range(1, workers + 1):
        key = metrics_key(metrics_prefix, index)
        if store.exists(key):
            progress.workers.append(worker_progress(index, store.get_bytes(key)))
    return progress


def _evaluation_progress(store: S3Store, labels: Mapping[str, str]) -> dict[str, Any] | None:
    """Trials done so far, from the metrics file the evaluation's labels name."""
    import json

    from drfc.core.evaluation import METRICS_LABEL, TRIALS_LABEL
    from drfc.core.evaluation_report import parse_trials, summarize

    key = labels.get(METRICS_LABEL)
    if not key:
        return None
    try:
        trials = parse_trials(json.loads(store.get_bytes(key))) if store.exists(key) else []
    except ValueError:
        trials = []
    total = labels.get(TRIALS_LABEL, "")
    return {
        "trials_done": len(trials),
        "trials": int(total) if total.isdigit() else None,
        "best_lap": summarize(trials).best_lap,
        "metrics_key": key,
    }


@click.command("status")
@json_option
@click.pass_obj
def status(app: App) -> None:
    """Runs, their containers (role, worker, state, uptime, exit code), progress and failures.

    Exits 30 when a run reports a failure (a container exited with an error, or the
    trainer logged a simapp exception, which it often does before exiting 0).
    """
    from functools import partial

    from drfc.core.containers import HOME, KIND, MANAGED, MODEL_PREFIX, RUN_ID, WORKER
    from drfc.core.runs import RUN_KINDS
    from drfc.core.status import unit_failures
    from drfc.core.storage_service import local_target
    from drfc.errors import DrfcError

    cfg = app.config()
    backend = app.backend()
    runs: dict[tuple[int, str], list[ContainerInfo]] = {}
    for unit in backend.units({MANAGED: "true", KIND: None}, detailed=True):
        kind = unit.labels.get(KIND, "")
        if kind in RUN_KINDS:
            runs.setdefault((int(unit.labels.get(RUN_ID, "-1")), kind), []).append(unit)
    runs.setdefault((cfg.run_id, "training"), [])
    store = app.store(local_target(cfg))
    report: list[dict[str, Any]] = []
    failed = False
    for run_id, kind in sorted(runs):
        members = sorted(runs[(run_id, kind)], key=lambda u: (u.role != "trainer", int(u.labels.get(WORKER, "0"))))
        prefix = members[0].labels.get(MODEL_PREFIX) if members else cfg.settings.local_s3_model_prefix
        same_home = not members or members[0].labels.get(HOME) == str(cfg.home)
        failures = [
            failure for unit in members for failure in unit_failures(unit, partial(backend.logs, unit.id, tail=400))
        ]
        progress = None
        progress_error = None
        if same_home and prefix and kind == "training":
            workers = sum(1 for u in members if u.role == "robomaker") or cfg.worker_count
            try:
                progress = _read_progress(cfg, store, prefix, workers)
            except DrfcError as exc:
                progress_error = exc.message
        evaluation = None
        if same_home and kind == "evaluation" and members:
            try:
                evaluation = _evaluation_progress(store, members[0].labels)
            except DrfcError as exc:
                progress_error = exc.message
        failed = failed or bool(failures)
        report.append(
            {
                "run_id": run_id,
                "kind": kind,
                "model_prefix": prefix,
                "backend": backend.kind,
                "containers": [
                    {
                        "name": u.name,
                        "role": u.role,
                        "worker": int(u.labels.get(WORKER, "0")),
                        "state": u.status,
                        "uptime_seconds": _uptime(u.started_at) if u.running else None,
                        "exit_code": u.exit_code,
                    }
                    for u in members
                ],
                "progress": progress.to_dict() if progress else None,
                "evaluation": evaluation,
                "progress_error": progress_error,
                "failures": failures,
            }
        )
    if app.ui.json_mode:
        app.ui.json({"runs": report})
    else:
        _render(app, report)
    if failed:
        raise click.exceptions.Exit(30)


def _render(app: App, report: list[dict[str, Any]]) -> None:
    ui = app.ui
    for run in report:
        rows = [
            (
                c["name"],
                c["role"],
                c["worker"] or "",
                c["state"],
                f"{c['uptime_seconds']:.0f}s" if c["uptime_seconds"] is not None else "",
                "" if c["exit_code"] is None else c["exit_code"],
            )
            for c in run["containers"]
        ]
        title = f"run {run['run_id']} {run['kind']}: {run['model_prefix']} ({run['backend']})"
        if rows:
            ui.table(("Container", "Role", "Worker", "State", "Uptime", "Exit"), rows, title=title)
        else:
            ui.print(f"{title}: no containers")
        progress = run["progress"]
        if progress:
            line = f"  iteration {progress['iteration'] if progress['iteration'] is not None else '—'}"
            if progress["best_checkpoint"]:
                line += f", best {progress['best_checkpoint']}, last {progress['last_checkpoint']}"
            if progress["finished"]:
                line += ", finished"
            ui.print(line)
            for w in progress["workers"]:
                last = ""
                if w["last_progress"] is not None:
                    last = f", last episode {w['last_progress']:.0f}% progress, reward {w['last_reward']:.2f}"
                ui.print(f"  worker {w['worker']}: {w['episodes']} training episodes{last}")
        elif run.get("evaluation"):
            e = run["evaluation"]
            line = f"  {e['trials_done']}/{e['trials'] or '?'} trials done"
            if e["best_lap"] is not None:
                line += f", best lap {e['best_lap']:.3f} s"
            ui.print(line + f" ({e['metrics_key']})")
        elif run["progress_error"]:
            ui.print(f"  progress unavailable: {run['progress_error']}")
        for failure in run["failures"]:
            ui.error(f"run {run['run_id']}: {failure}")
