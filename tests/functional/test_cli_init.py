"""``drfc init`` through the CLI: files, GPU choice, never clobbering, experiments, the minio profile."""

from __future__ import annotations

import configparser
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from drfc.cli.main import cli
from drfc.core.init import CUSTOM_FILES
from drfc.resources import SIMAPP_VERSION, defaults_dir

Run = Callable[..., Result]


@pytest.fixture
def creds_file(tmp_path: Path) -> Path:
    return tmp_path / "aws" / "credentials"


@pytest.fixture
def drfc_cli(creds_file: Path) -> Run:
    """Invoke ``drfc`` with no DR_* variables from the caller's shell and a private AWS credentials file."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DR_")}
        clean.update(
            DRFC_DEBUG=None, COLUMNS="400", AWS_SHARED_CREDENTIALS_FILE=str(creds_file), AWS_DEFAULT_REGION=None
        )
        clean.update(env or {})
        return CliRunner().invoke(cli, list(args), env=clean)

    return run


def system_value(home: Path, key: str) -> str:
    for line in (home / "system.env").read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{key} not in system.env")


def profile(creds_file: Path, name: str) -> dict[str, str]:
    parser = configparser.RawConfigParser()
    parser.read(creds_file)
    return dict(parser[name])


def test_init_writes_a_home_that_validates(drfc_cli: Run, tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"  # created, parents included
    result = drfc_cli("--dir", str(home), "init", "--cpu")
    assert result.exit_code == 0, result.output
    assert (home / "system.env").is_file() and (home / "run.env").is_file()
    for name in CUSTOM_FILES:
        assert (home / "custom_files" / name).read_bytes() == (defaults_dir() / name).read_bytes()
        assert f"wrote custom_files/{name}" in result.stderr
    assert result.stdout == ""  # messages go to stderr
    assert drfc_cli("--dir", str(home), "config", "validate").exit_code == 0


def test_init_in_the_current_directory(drfc_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert drfc_cli("init", "--cpu").exit_code == 0
    assert (tmp_path / "system.env").is_file()


@pytest.mark.parametrize(("flag", "suffix"), [("--cpu", "cpu"), ("--gpu", "gpu")])
def test_gpu_or_cpu_can_be_forced(
    drfc_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str, suffix: str
) -> None:
    def no_detection() -> tuple[bool, str]:
        raise AssertionError("detection must not run when --gpu/--cpu is given")

    monkeypatch.setattr("drfc.adapters.gpu.detect_gpu", no_detection)
    result = drfc_cli("--dir", str(tmp_path / "h"), "init", flag)
    assert result.exit_code == 0, result.output
    assert system_value(tmp_path / "h", "DR_SIMAPP_VERSION") == f"{SIMAPP_VERSION}-{suffix}"
    assert f"{SIMAPP_VERSION}-{suffix}" in result.stderr


@pytest.mark.parametrize(("found", "suffix"), [(True, "gpu"), (False, "cpu")])
def test_gpu_is_detected_without_a_flag(
    drfc_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, found: bool, suffix: str
) -> None:
    monkeypatch.setattr("drfc.adapters.gpu.detect_gpu", lambda: (found, "the test says so"))
    result = drfc_cli("--dir", str(tmp_path / "h"), "init")
    assert result.exit_code == 0, result.output
    assert system_value(tmp_path / "h", "DR_SIMAPP_VERSION") == f"{SIMAPP_VERSION}-{suffix}"
    assert "the test says so" in result.stderr


def test_existing_files_are_never_overwritten_without_force(drfc_cli: Run, tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert drfc_cli("--dir", str(home), "init", "--cpu").exit_code == 0
    (home / "run.env").write_text("DR_CAR_NAME=Mine\n")
    (home / "custom_files" / "hyperparameters.json").write_text('{"batch_size": 32}\n')
    result = drfc_cli("--dir", str(home), "init", "--gpu")
    assert result.exit_code == 0
    assert (home / "run.env").read_text() == "DR_CAR_NAME=Mine\n"
    assert (home / "custom_files" / "hyperparameters.json").read_text() == '{"batch_size": 32}\n'
    assert system_value(home, "DR_SIMAPP_VERSION").endswith("-cpu")
    assert "kept existing run.env" in result.stderr and "--force" in result.stderr
    assert list(home.glob("*.bak-*")) == []


def test_force_keeps_a_timestamped_backup(drfc_cli: Run, tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert drfc_cli("--dir", str(home), "init", "--cpu").exit_code == 0
    (home / "run.env").write_text("DR_CAR_NAME=Mine\n")
    result = drfc_cli("--dir", str(home), "init", "--gpu", "--force")
    assert result.exit_code == 0
    (backup,) = home.glob("run.env.bak-*")
    assert backup.name[len("run.env.bak-") :][:8].isdigit()  # YYYYmmdd-HHMMSS
    assert backup.read_text() == "DR_CAR_NAME=Mine\n"
    assert "DR_CAR_NAME=FastCar" in (home / "run.env").read_text()
    assert system_value(home, "DR_SIMAPP_VERSION").endswith("-gpu")
    assert f"kept a backup: {backup.name}" in result.stderr


def test_init_for_an_experiment(drfc_cli: Run, tmp_path: Path) -> None:
    home = tmp_path / "h"
    result = drfc_cli("--dir", str(home), "-e", "fast-laps", "init", "--cpu")
    assert result.exit_code == 0, result.output
    folder = home / "experiments" / "fast-laps"
    assert (folder / "run.env").is_file()
    assert sorted(p.name for p in (folder / "custom_files").iterdir()) == sorted(CUSTOM_FILES)
    shown = drfc_cli("--dir", str(home), "-e", "fast-laps", "config", "validate", "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["valid"] is True


def test_minio_profile_is_created_private_and_not_printed(drfc_cli: Run, tmp_path: Path, creds_file: Path) -> None:
    result = drfc_cli("--dir", str(tmp_path / "h"), "init", "--cpu")
    assert result.exit_code == 0
    keys = profile(creds_file, "minio")
    assert keys["aws_access_key_id"] and keys["aws_secret_access_key"]
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    assert "created AWS profile minio" in result.stderr
    for secret in keys.values():
        if len(secret) > 10:
            assert secret not in result.output
    as_json = drfc_cli("--dir", str(tmp_path / "h2"), "init", "--cpu", "--json")
    assert keys["aws_secret_access_key"] not in as_json.output


def test_existing_minio_profile_is_left_alone(drfc_cli: Run, tmp_path: Path, creds_file: Path) -> None:
    creds_file.parent.mkdir()
    original = "[minio]\naws_access_key_id = KEEPME\naws_secret_access_key = KEEPMETOO\n"
    creds_file.write_text(original)
    result = drfc_cli("--dir", str(tmp_path / "h"), "init", "--cpu")
    assert result.exit_code == 0
    assert creds_file.read_text() == original
    assert "created AWS profile" not in result.stderr


def test_aws_cloud_creates_no_profile(drfc_cli: Run, tmp_path: Path, creds_file: Path) -> None:
    result = drfc_cli("--dir", str(tmp_path / "h"), "init", "--cpu", "--cloud", "aws", "--region", "eu-west-1")
    assert result.exit_code == 0
    assert not creds_file.exists()
    assert system_value(tmp_path / "h", "DR_CLOUD") == "aws"
    assert system_value(tmp_path / "h", "DR_AWS_APP_REGION") == "eu-west-1"


def test_init_json(drfc_cli: Run, tmp_path: Path) -> None:
    home = tmp_path / "h"
    result = drfc_cli("--dir", str(home), "init", "--gpu", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["home"] == str(home.resolve())
    assert data["gpu"] is True and data["simapp_version"] == f"{SIMAPP_VERSION}-gpu"
    assert sorted(Path(p).name for p in data["written"]) == sorted(["system.env", "run.env", *CUSTOM_FILES])
    assert data["kept"] == [] and data["backups"] == []
    assert data["profile_created"].startswith("minio")


def test_dir_that_is_a_file_is_a_usage_error(drfc_cli: Run, tmp_path: Path) -> None:
    file = tmp_path / "afile"
    file.write_text("x")
    result = drfc_cli("--dir", str(file), "init", "--cpu")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unreadable_credentials_file_is_a_clean_error(drfc_cli: Run, tmp_path: Path, creds_file: Path) -> None:
    creds_file.parent.mkdir()
    creds_file.write_text("[minio\naws_secret_access_key = LEAKME\n")
    result = drfc_cli("--dir", str(tmp_path / "h"), "init", "--cpu")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"error: the AWS credentials file {creds_file} cannot be read (line 1)")
    assert "LEAKME" not in result.output and "Traceback" not in result.output
