"""`drfc logs sagemaker|robomaker`."""

from __future__ import annotations

import re

import click

from drfc.cli.main import App

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``90``, ``30s``, ``5m``, ``2h``, ``1d`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration such as 30s, 5m, 2h or 1d", param_hint="--since")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


@click.command("logs")
@click.argument("which", type=click.Choice(["sagemaker", "robomaker"]))
@click.option("-n", "--worker", default=1, show_default=True, help="Robomaker worker number.")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines.")
@click.option("--since", default="5m", show_default=True, help="Only lines newer than this (30s, 5m, 2h, 1d).")
@click.option("-a", "--all", "everything", is_flag=True, help="All lines since the container started.")
@click.option("--wait", default=0.0, show_default=True, help="Seconds to wait for the container to appear.")
@click.pass_obj
def logs(app: App, which: str, worker: int, follow: bool, since: str, everything: bool, wait: float) -> None:
    """Show the trainer's (sagemaker) or a worker's (robomaker) log of this run."""
    import time

    from drfc.core.training import run_selector
    from drfc.errors import NotFoundError

    cfg = app.config()
    engine = app.docker()
    selector = {**run_selector(cfg.run_id), "drfc.role": "trainer" if which == "sagemaker" else "robomaker"}
    if which == "robomaker":
        selector["drfc.worker"] = str(worker)
    deadline = time.monotonic() + wait
    while True:
        found = engine.find(selector)
        if found or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if not found:
        what = "trainer" if which == "sagemaker" else f"Robomaker worker {worker}"
        others = engine.find(run_selector(cfg.run_id))
        hint = (
            "running now: " + ", ".join(f"{u.name} ({u.status})" for u in others)
            if others
            else "start it with `drfc start-training`"
        )
        raise NotFoundError(f"run {cfg.run_id} has no {what} container", hint=hint)
    unit = found[0]
    since_ts = None if everything else int(time.time()) - parse_duration(since)
    if not follow:
        text = engine.logs(unit.id, since=since_ts)
        for line in text.splitlines():
            app.ui.print(line)
        return
    try:
        for line in engine.follow_logs(unit.id, since=since_ts):
            app.ui.print(line)
    except KeyboardInterrupt:
        return
