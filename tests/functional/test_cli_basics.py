"""The root command: --version, --help everywhere, and the one error boundary (messages and exit codes)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import drfc
import pytest
from click.testing import Result
from drfc.cli.main import cli

Run = Callable[..., Result]


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def assert_clean_failure(result: Result, code: int) -> list[str]:
    """Exit ``code``, a first stderr line starting with 'error: ', no traceback; returns the stderr lines."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines


# --- version and help -----------------------------------------------------------------------------------


def test_version(drfc_cli: Run) -> None:
    result = drfc_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"drfc {drfc.__version__}\n"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_root_help(drfc_cli: Run, flag: str) -> None:
    result = drfc_cli(flag)
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage:")
    for name in cli.commands:
        assert name in result.stdout


@pytest.mark.parametrize("path", list(command_paths(cli)), ids=" ".join)
def test_every_command_has_help(drfc_cli: Run, path: tuple[str, ...]) -> None:
    result = drfc_cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage:")
    assert " ".join(path) in result.stdout.splitlines()[0]


def test_the_config_commands_are_there() -> None:
    paths = set(command_paths(cli))
    assert {("init",), ("config",), *((("config", c)) for c in ("show", "validate", "get", "set"))} <= paths


# --- the error boundary ---------------------------------------------------------------------------------


def test_drfc_error_is_one_line_on_stderr_with_its_exit_code(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "config", "get", "workrs")
    lines = assert_clean_failure(result, 3)
    assert lines[0] == "error: DR_WORKRS is not a drfc setting"
    assert lines[1:] == ["hint: did you mean DR_WORKERS?"]
    assert result.stdout == ""


def test_missing_system_env_names_the_directory_and_drfc_init(drfc_cli: Run, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = drfc_cli("--dir", str(empty), "config", "show")
    lines = assert_clean_failure(result, 3)
    text = "\n".join(lines)
    assert str(empty.resolve()) in text
    assert "system.env" in text and "drfc init" in text
    assert "environment:" not in text


def test_missing_home_directory(drfc_cli: Run, tmp_path: Path) -> None:
    result = drfc_cli("--dir", str(tmp_path / "nope"), "config", "show")
    text = "\n".join(assert_clean_failure(result, 3))
    assert str((tmp_path / "nope").resolve()) in text and "not a directory" in text


def test_debug_shows_the_traceback(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--debug", "--dir", str(home), "config", "get", "workrs")
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert "error: DR_WORKRS is not a drfc setting" in result.stderr


def test_drfc_debug_variable_shows_the_traceback(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "config", "get", "workrs", env={"DRFC_DEBUG": "1"})
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr


@pytest.mark.parametrize("where", ["global", "command"])
def test_json_failure_prints_an_error_object(drfc_cli: Run, home: Path, where: str) -> None:
    args = ["--json", "--dir", str(home), "config", "get", "workrs"]
    if where == "command":
        args = ["--dir", str(home), "config", "get", "workrs", "--json"]
    result = drfc_cli(*args)
    assert result.exit_code == 3
    payload = json.loads(result.stdout)
    assert payload == {
        "error": {
            "type": "ConfigError",
            "message": "DR_WORKRS is not a drfc setting",
            "exit_code": 3,
            "problems": [],
            "hint": "did you mean DR_WORKERS?",
        }
    }


def test_json_failure_lists_every_configuration_problem(drfc_cli: Run, home: Path) -> None:
    with (home / "run.env").open("a") as fh:
        fh.write("DR_CAR_COLOR=Pink\nDR_RUN_ID=x\n")
    result = drfc_cli("--json", "--dir", str(home), "config", "show")
    assert result.exit_code == 3
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == 3 and error["type"] == "ConfigError"
    assert len(error["problems"]) == 2
    assert any("DR_CAR_COLOR='Pink'" in p for p in error["problems"])


@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_exception_exits_1_with_the_rerun_hint(
    drfc_cli: Run, home: Path, monkeypatch: pytest.MonkeyPatch, debug: bool
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr("drfc.config.load.load_config", explode)
    result = drfc_cli(*(["--debug"] if debug else []), "--dir", str(home), "config", "show")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "error: unexpected RuntimeError: kaboom" in result.stderr
    assert "--debug" in result.stderr and "report" in result.stderr
    assert ("Traceback (most recent call last)" in result.stderr) is debug


@pytest.mark.parametrize(
    "args",
    [
        ["config", "set"],
        ["config", "set", "NO_EQUALS_SIGN"],
        ["--set", "novalue", "config", "show"],
        ["config", "show", "--no-such-option"],
        ["no-such-command"],
        ["config", "validate", "--for", "racing"],
    ],
    ids=" ".join,
)
def test_usage_errors_exit_2(drfc_cli: Run, home: Path, args: list[str]) -> None:
    result = drfc_cli("--dir", str(home), *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
