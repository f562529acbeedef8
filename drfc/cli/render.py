"""Progress bars and summaries shared by commands (rich, imported on use)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drfc.core.storage import SyncAction, SyncResult
    from drfc.ui import UI


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


class SyncBar:
    """A rich progress bar (bytes and files) fed by sync worker threads; silent when not useful."""

    def __init__(self, ui: UI, label: str) -> None:
        self.ui = ui
        self.label = label
        self._lock = threading.Lock()
        self._progress: Any = None
        self._bytes_task: Any = None
        self._files = 0
        self._total_files = 0

    def __enter__(self) -> SyncBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def start(self, files: int, nbytes: int) -> None:
        if self.ui.quiet or not self.ui.err.is_terminal or files == 0:
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._total_files = files
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.ui.err,
            transient=True,
        )
        self._progress.start()
        self._bytes_task = self._progress.add_task(self._describe(), total=max(nbytes, 1))

    def _describe(self) -> str:
        return f"{self.label} {self._files}/{self._total_files} files"

    def advance(self, nbytes: int) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress.update(self._bytes_task, advance=nbytes)

    def file_done(self, action: SyncAction) -> None:
        if self._progress is not None:
            with self._lock:
                self._files += 1
                self._progress.update(self._bytes_task, description=self._describe())

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class PullBar:
    """Image pull progress on stderr."""

    def __init__(self, ui: UI, image: str) -> None:
        self.ui = ui
        self.image = image
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> PullBar:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, done: int, total: int, status: str) -> None:
        if self.ui.quiet or not self.ui.err.is_terminal:
            return
        if self._progress is None:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn(f"pulling {self.image}"), BarColumn(), DownloadColumn(), console=self.ui.err, transient=True
            )
            self._progress.start()
            self._task = self._progress.add_task("pull", total=max(total, 1))
        self._progress.update(self._task, completed=done, total=max(total, 1))


def sync_summary(ui: UI, result: SyncResult, *, direction: str, source: str, target: str) -> None:
    """One closing line (or the JSON summary), plus every planned action in a dry run."""
    data = result.to_dict(with_actions=result.dry_run)
    if ui.json_mode:
        ui.json({"source": source, "target": target, **data})
        return
    if result.dry_run:
        rows = [
            (a.kind, a.key, human_bytes(a.size) if a.size else "", a.reason) for a in result.actions if a.kind != "skip"
        ]
        if rows:  # an empty table says nothing the closing line does not
            ui.table(("Action", "Key", "Size", "Why"), rows, title=f"dry run: {source} → {target}")
        planned = data["uploaded"] if direction == "upload" else data["downloaded"]
        ui.info(
            f"dry run: would {direction} {planned} file(s), "
            f"delete {data['deleted']}, skip {data['skipped']} unchanged; nothing was changed"
        )
        return
    moved = data["uploaded"] if direction == "upload" else data["downloaded"]
    verb = "uploaded" if direction == "upload" else "downloaded"
    ui.success(
        f"{verb} {moved} file(s) ({human_bytes(data['bytes'])}), skipped {data['skipped']} unchanged, "
        f"deleted {data['deleted']} in {data['seconds']:.2f}s: {source} → {target}"
    )


class StartEvents:
    """How a start talks to the user: steps, questions, progress bars and a live per-container state line."""

    def __init__(self, ui: UI, assume_yes: bool) -> None:
        self.ui = ui
        self.assume_yes = assume_yes
        self._last: dict[str, str] = {}
        self._spinner: Any = None

    def step(self, message: str) -> None:
        self.ui.step(message)

    def confirm(self, question: str) -> bool:
        return self.ui.confirm(question, assume_yes=self.assume_yes)

    def pulling(self, image: str) -> PullBar:
        self.ui.step(f"pulling {image}")
        return PullBar(self.ui, image)

    def uploading(self, label: str) -> SyncBar:
        return SyncBar(self.ui, label)

    def states(self, states: Mapping[str, str]) -> None:
        for name, state in sorted(states.items()):
            if self._last.get(name) != state:
                self.ui.debug(f"{name}: {state}")
        self._last = dict(states)
        if self.ui.quiet or not self.ui.err.is_terminal:
            return
        running = sum(1 for s in states.values() if s == "running")
        waiting = ", ".join(f"{n} {s}" for n, s in sorted(states.items()) if s != "running")
        text = f"{running}/{len(states)} running" + (f"; waiting for {waiting}" if waiting else "")
        if self._spinner is None:
            self._spinner = self.ui.err.status(text)
            self._spinner.start()
        else:
            self._spinner.update(text)

    def close(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
