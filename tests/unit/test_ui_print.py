"""`UI.print` writes result lines verbatim: no wrapping at the console width, no emoji or markup codes."""

from __future__ import annotations

import io

from drfc.ui import UI


def test_long_log_lines_are_not_wrapped_or_rewritten() -> None:
    out = io.StringIO()  # not a terminal: rich would assume 80 columns
    line = "drfc-0-algo-1-abcde | Invoking script " + " ".join(f"--key_{i} value_{i}" for i in range(30))
    odd = "worker :smile: [bold]x[/bold] \\[y]"
    ui = UI(stdout=out)
    ui.print(line)
    ui.print(odd)
    assert out.getvalue() == f"{line}\n{odd}\n"


def test_print_still_redacts_secrets() -> None:
    out = io.StringIO()
    ui = UI(stdout=out)
    ui.add_secret("s3cr3t-value")
    ui.print("key=s3cr3t-value " + "x" * 200)
    assert out.getvalue() == "key=******** " + "x" * 200 + "\n"
