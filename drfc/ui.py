"""All terminal output goes through one ``UI``.

Results go to stdout (tables, or one JSON document with ``--json``);
diagnostics, progress and prompts go to stderr, so ``drfc ... --json | jq``
always sees clean JSON. rich is imported on first use only, keeping
``drfc --help`` fast. Every string printed passes through ``redact`` so
secrets registered with the UI never reach a terminal or a log.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

REDACTED = "********"


class UI:
    def __init__(
        self,
        *,
        json_mode: bool = False,
        quiet: bool = False,
        verbose: int = 0,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose
        self._stdout = stdout
        self._stderr = stderr
        self._secrets: set[str] = set()
        self._out: Console | None = None
        self._err: Console | None = None

    # --- secrets ----------------------------------------------------------------------------------
    def add_secret(self, value: str | None) -> None:
        """Never print ``value``: it is replaced wherever it would appear."""
        if value and len(value) >= 4:
            self._secrets.add(value)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    # --- consoles ------------------------------------------------------------------------------------
    @property
    def out(self) -> Console:
        if self._out is None:
            from rich.console import Console

            self._out = Console(file=self._stdout or sys.stdout, highlight=False, soft_wrap=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(file=self._stderr or sys.stderr, highlight=False, soft_wrap=True)
        return self._err

    # --- messages (stderr) -------------------------------------------------------------------------------
    def _say(self, style: str, prefix: str, message: str) -> None:
        from rich.markup import escape

        text = escape(self.redact(message))
        self.err.print(f"[{style}]{prefix}[/{style}]{text}" if prefix else f"[{style}]{text}[/{style}]")

    def info(self, message: str) -> None:
        if not self.quiet:
            self._say("default", "", message)

    def step(self, message: str) -> None:
        """Something drfc does on the user's behalf (starting MinIO, uploading files)."""
        if not self.quiet:
            self._say("cyan", "→ ", message)

    def success(self, message: str) -> None:
        if not self.quiet:
            self._say("green", "✓ ", message)

    def warning(self, message: str) -> None:
        self._say("yellow", "warning: ", message)

    def error(self, message: str) -> None:
        self._say("red", "error: ", message)

    def hint(self, message: str) -> None:
        self._say("dim", "hint: ", message)

    def debug(self, message: str) -> None:
        if self.verbose:
            self._say("dim", "debug: ", message)

    # --- results (stdout) -------------------------------------------------------------------------------
    def print(self, text: str = "") -> None:
        """A plain result line on stdout (not in JSON mode), verbatim: log lines must survive `| grep`."""
        if not self.json_mode:
            self.out.print(self.redact(text), markup=False, emoji=False, soft_wrap=True)

    def json(self, data: Any) -> None:
        """The one JSON document of a command, on stdout."""
        text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
        stream = self._stdout or sys.stdout
        stream.write(self.redact(text) + "\n")
        stream.flush()

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        title: str | None = None,
    ) -> None:
        if self.json_mode:
            return
        from rich.table import Table

        table = Table(title=title, show_lines=False, header_style="bold", title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if v is None else self.redact(str(v)) for v in row))
        self.out.print(table)

    # --- interaction -------------------------------------------------------------------------------------
    def confirm(self, question: str, *, assume_yes: bool = False) -> bool:
        if assume_yes:
            return True
        if not sys.stdin or not sys.stdin.isatty():
            return False
        from rich.prompt import Confirm

        return Confirm.ask(question, console=self.err, default=False)

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A spinner on stderr while something slow runs (silent when quiet or not a terminal)."""
        if self.quiet or not self.err.is_terminal:
            yield
            return
        with self.err.status(message):
            yield
