"""`drfc logs sagemaker|robomaker`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import click

from drfc.cli.main import App

if TYPE_CHECKING:
    from drfc.core.containers import ContainerInfo
    from drfc.core.runs import Backend

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
@click.option("--eval", "evaluation", is_flag=True, help="The evaluation's Robomaker instead of training's.")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines.")
@click.option("--since", default="5m", show_default=True, help="Only lines newer than this (30s, 5m, 2h, 1d).")
@click.option("-a", "--all", "everything", is_flag=True, help="All lines since the container started.")
@click.option("--wait", default=0.0, show_default=True, help="Seconds to wait for the container to appear.")
@click.pass_obj
def logs(
    app: App, which: str, worker: int, evaluation: bool, follow: bool, since: str, everything: bool, wait: float
) -> None:
    """Show the trainer's (sagemaker) or a worker's (robomaker) log of this run."""
    import time

    from drfc.core.runs import run_selector, unit_selector
    from drfc.errors import NotFoundError

    kind = "evaluation" if evaluation else "training"
    if evaluation and which == "sagemaker":
        raise click.UsageError("an evaluation has no trainer: use `drfc logs robomaker --eval`")
    cfg = app.config()
    backend = app.backend()
    role = "trainer" if which == "sagemaker" else "robomaker"
    selector = unit_selector(cfg.run_id, kind, role, worker if role == "robomaker" else None)
    deadline = time.monotonic() + wait
    while True:
        found = backend.units(selector)
        if found or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if not found:
        what = "trainer" if which == "sagemaker" else f"Robomaker worker {worker}"
        others = backend.units(run_selector(cfg.run_id, kind))
        hint = (
            "running now: " + ", ".join(f"{u.name} ({u.status})" for u in others)
            if others
            else f"start it with `drfc start-{kind}`"
        )
        raise NotFoundError(f"run {cfg.run_id} has no {what} ({kind})", hint=hint)
    since_ts = None if everything else int(time.time()) - parse_duration(since)
    if not follow:
        for line in backend.logs(found[0].id, since=since_ts).splitlines():
            app.ui.print(line)
        return
    stream_units(app, backend, found[:1], since=since_ts)


def stream_units(
    app: App, backend: Backend, units: list[ContainerInfo], *, tail: int | str = "all", since: int | None = None
) -> bool:
    """Follow the logs of one unit, or of several interleaved with a name prefix, until Ctrl-C or all end.

    True when every stream ended by itself (the units ended), False after Ctrl-C.
    """
    import queue
    import threading

    if len(units) == 1:
        try:
            for line in backend.follow(units[0].id, tail=tail, since=since):
                app.ui.print(line)
        except KeyboardInterrupt:
            app.ui.info("stopped following; the run goes on")
            return False
        return True
    lines: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=10_000)
    width = max(len(u.name) for u in units)

    def pump(unit: ContainerInfo) -> None:
        try:
            for line in backend.follow(unit.id, tail=tail, since=since):
                lines.put((unit.name, line))
        except Exception as exc:  # a unit removed meanwhile ends its own stream only
            lines.put((unit.name, f"(log stream ended: {exc})"))
        finally:
            lines.put(None)

    for unit in units:
        threading.Thread(target=pump, args=(unit,), daemon=True).start()
    open_streams = len(units)
    try:
        while open_streams:
            item = lines.get()
            if item is None:
                open_streams -= 1
                continue
            app.ui.print(f"{item[0]:<{width}} | {item[1]}")
    except KeyboardInterrupt:
        app.ui.info("stopped following; the run goes on")
        return False
    return True
