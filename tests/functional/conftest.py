"""Fixtures shared by the CliRunner tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from drfc.cli.main import cli

Run = Callable[..., Result]


@pytest.fixture
def drfc_cli(tmp_path: Path) -> Run:
    """Invoke ``drfc`` with no DR_* variables from the caller's shell and a private AWS credentials file."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DR_")}
        clean.update(DRFC_DEBUG=None, COLUMNS="400", AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"))
        clean.update(env or {})
        return CliRunner().invoke(cli, list(args), env=clean)

    return run


@pytest.fixture
def home(tmp_path: Path, drfc_cli: Run) -> Path:
    path = tmp_path / "home"
    result = drfc_cli("--dir", str(path), "init", "--cpu")
    assert result.exit_code == 0, result.output
    return path
