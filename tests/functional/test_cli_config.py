"""``drfc config show | get | validate`` through the CLI, including secrets and where values come from."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from drfc.config.model import MASK
from drfc.config.schema import spec_by_key, specs

Run = Callable[..., Result]
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "drfc-home"
JSON_SCALARS = (bool, int, float, str, type(None))


@pytest.fixture
def dr_fc_home(tmp_path: Path) -> Path:
    path = tmp_path / "drfc-home"
    shutil.copytree(FIXTURE, path)
    return path


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def line_of(path: Path, key: str) -> int:
    lines = path.read_text().splitlines()
    return max(n for n, line in enumerate(lines, start=1) if line.startswith(f"{key}="))


def table_rows(stdout: str) -> dict[str, list[str]]:
    """Setting -> cells of a rich table printed wide enough not to wrap."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0].startswith("DR_"):
            rows[cells[0]] = cells[1:]
    return rows


# --- config show ---------------------------------------------------------------------------------------


def test_show_lists_values_with_file_and_line(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "config", "show")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows["DR_WORKERS"] == ["1", f"system.env:{line_of(home / 'system.env', 'DR_WORKERS')}"]
    assert rows["DR_CAR_NAME"] == ["FastCar", f"run.env:{line_of(home / 'run.env', 'DR_CAR_NAME')}"]
    assert rows["DR_GAZEBO_RENDER_ENGINE"] == ["ogre2", "default"]
    assert rows["DR_DIR"] == [str(home.resolve()), "computed"]
    assert "DR_TRAIN_RTF" not in rows  # optional and unset: only with --all
    assert result.stderr == ""


def test_show_all_includes_unset_optional_settings(drfc_cli: Run, home: Path) -> None:
    rows = table_rows(drfc_cli("--dir", str(home), "config", "show", "--all").stdout)
    assert rows["DR_TRAIN_RTF"] == ["—", "not set"]
    assert {s.key for s in specs()} <= set(rows)


def test_show_marks_environment_overrides(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "config", "show", env={"DR_WORLD_NAME": "env_track"})
    assert result.exit_code == 0
    line = line_of(home / "run.env", "DR_WORLD_NAME")
    assert table_rows(result.stdout)["DR_WORLD_NAME"] == ["env_track", f"environment (overrides run.env:{line})"]
    assert "warning:" in result.stderr and "DR_WORLD_NAME" in result.stderr


def test_show_json_is_one_object_of_typed_values(drfc_cli: Run, dr_fc_home: Path) -> None:
    result = drfc_cli("--dir", str(dr_fc_home), "config", "show", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # fails on anything else printed to stdout
    assert isinstance(data, dict)
    assert all(key.startswith("DR_") for key in data)
    assert {s.key for s in specs()} <= set(data)
    assert all(isinstance(v, JSON_SCALARS) for v in data.values())
    expected = json.loads((FIXTURE / "EXPECTED.json").read_text())
    for key, text in expected.items():
        spec = spec_by_key()[key]
        value = data[key]
        if spec.type is bool:
            assert value is (text == "True"), key
        elif spec.type is int:
            assert type(value) is int and value == int(text), key
        elif spec.type is float:
            assert type(value) is float and value == float(text), key
        else:
            assert value == text, key
    assert data["DR_TRAIN_RTF"] is None
    assert data["DR_ROBOMAKER_TRAIN_PORT"] == 8080


def test_show_json_stdout_stays_clean_when_there_are_warnings(drfc_cli: Run, home: Path) -> None:
    append(home / "run.env", "DR_WORKRS=2\n")
    for args in (["--json", "config", "show"], ["config", "show", "--json"]):
        result = drfc_cli("--dir", str(home), *args, env={"DR_WORLD_NAME": "x"})
        assert result.exit_code == 0
        assert isinstance(json.loads(result.stdout), dict)
        assert "did you mean DR_WORKERS?" in result.stderr


# --- config get -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["DR_WORKERS", "WORKERS", "workers", "dr_workers"])
def test_get_with_or_without_prefix(drfc_cli: Run, home: Path, name: str) -> None:
    result = drfc_cli("--dir", str(home), "config", "get", name, env={"DR_WORKERS": "3"})
    assert result.exit_code == 0
    assert result.stdout == "3\n"


def test_get_json_and_computed_and_unset(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "--set", "DR_RUN_ID=7", "config", "get", "gui_enable", "--json")
    assert json.loads(result.stdout) == {"DR_GUI_ENABLE": False}
    port = drfc_cli("--dir", str(home), "--set", "DR_RUN_ID=7", "config", "get", "DR_ROBOMAKER_TRAIN_PORT")
    assert port.stdout == "8087\n"
    unset = drfc_cli("--dir", str(home), "config", "get", "DR_TRAIN_RTF")
    assert (unset.exit_code, unset.stdout) == (0, "\n")


def test_get_unknown_key(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "config", "get", "DR_CAR_COLOUR")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "error: DR_CAR_COLOUR is not a drfc setting" in result.stderr
    assert "did you mean DR_CAR_COLOR?" in result.stderr


# --- config validate ----------------------------------------------------------------------------------


def test_validate_clean_home(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "config", "validate")
    assert result.exit_code == 0
    assert "is valid" in result.stderr and "error" not in result.stderr


def test_validate_config_errors_exit_3_and_list_every_problem(drfc_cli: Run, home: Path) -> None:
    append(home / "run.env", "DR_CAR_COLOR=Pink\nDR_EVAL_CHECKPOINT=worst\n")
    append(home / "system.env", "DR_WORKERS=none\n")
    (home / "custom_files" / "reward_function.py").write_text("def reward(:\n")
    result = drfc_cli("--dir", str(home), "config", "validate")
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3
    line = line_of(home / "run.env", "DR_CAR_COLOR")
    assert f"error: run.env:{line}: DR_CAR_COLOR='Pink': is not one of the allowed values (valid: " in result.stderr
    assert "system.env:" in result.stderr and "DR_WORKERS='none'" in result.stderr


def test_validate_only_custom_file_errors_exit_4(drfc_cli: Run, home: Path) -> None:
    (home / "custom_files" / "reward_function.py").write_text("x = 1\n")
    result = drfc_cli("--dir", str(home), "config", "validate")
    assert result.exit_code == 4
    assert "custom_files/reward_function.py" in result.stderr and "reward_function" in result.stderr
    skipped = drfc_cli("--dir", str(home), "config", "validate", "--no-custom-files")
    assert skipped.exit_code == 0


def test_validate_warnings_alone_exit_0(drfc_cli: Run, home: Path) -> None:
    append(home / "run.env", "DR_WORKRS=2\n")
    result = drfc_cli("--dir", str(home), "config", "validate")
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "1 warning" in result.stderr


def test_validate_for_evaluation_allows_head_to_model(drfc_cli: Run, home: Path) -> None:
    append(home / "run.env", "DR_RACE_TYPE=HEAD_TO_MODEL\nDR_EVAL_OPP_S3_MODEL_PREFIX=rival\n")
    assert drfc_cli("--dir", str(home), "config", "validate").exit_code == 3  # --for training is the default
    assert drfc_cli("--dir", str(home), "config", "validate", "--for", "evaluation").exit_code == 0
    assert drfc_cli("--dir", str(home), "config", "show").exit_code == 0


def test_validate_json_shape(drfc_cli: Run, home: Path) -> None:
    append(home / "run.env", "DR_CAR_COLOR=Pink\nDR_WORKRS=2\n")
    result = drfc_cli("--dir", str(home), "config", "validate", "--json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert set(data) == {"valid", "home", "errors", "warnings"}
    assert data["valid"] is False and data["home"] == str(home.resolve())
    fields = {"severity", "location", "file", "line", "key", "value", "message", "valid"}
    (error,) = data["errors"]
    warnings = {w["key"]: w for w in data["warnings"]}
    assert "is set again" in warnings["DR_CAR_COLOR"]["message"]
    warning = warnings["DR_WORKRS"]
    assert set(error) == fields == set(warning)
    assert error["severity"] == "error" and warning["severity"] == "warning"
    assert error["file"] == str(home.resolve() / "run.env")
    assert (error["key"], error["value"], error["line"]) == (
        "DR_CAR_COLOR",
        "Pink",
        line_of(home / "run.env", "DR_CAR_COLOR"),
    )
    assert error["location"] == f"run.env:{error['line']}"
    assert "Red" in error["valid"]
    assert warning["valid"] == "did you mean DR_WORKERS?"


def test_validate_json_valid_and_custom_only(drfc_cli: Run, home: Path) -> None:
    ok = json.loads(drfc_cli("--dir", str(home), "config", "validate", "--json").stdout)
    assert ok["valid"] is True and ok["errors"] == []
    (home / "custom_files" / "hyperparameters.json").write_text("{ nope")
    result = drfc_cli("--dir", str(home), "config", "validate", "--json")
    assert result.exit_code == 4
    (error,) = json.loads(result.stdout)["errors"]
    assert error["file"].endswith("hyperparameters.json") and error["line"] == 1


def test_validate_missing_system_env(drfc_cli: Run, tmp_path: Path) -> None:
    result = drfc_cli("--dir", str(tmp_path), "config", "validate", "--json")
    assert result.exit_code == 3
    (error,) = json.loads(result.stdout)["errors"]
    assert "drfc init" in error["valid"] and str(tmp_path.resolve()) in error["message"]
    assert error["location"] is None


# --- secrets ---------------------------------------------------------------------------------------------

PASSWORD = "Sup3r-S3cret-Pa55"
URL_PASSWORD = "minio-Pa55w0rd-xyz"


@pytest.fixture
def secret_home(home: Path) -> Path:
    system = (home / "system.env").read_text().replace("DR_CLOUD=local", "DR_CLOUD=remote")
    (home / "system.env").write_text(system + f"DR_REMOTE_MINIO_URL=http://admin:{URL_PASSWORD}@nas.lan:9000\n")
    return home


SECRET_COMMANDS = [
    ["config", "show"],
    ["config", "show", "--all"],
    ["config", "show", "--json"],
    ["--json", "config", "show"],
    ["config", "get", "DR_DROA_PASSWORD"],
    ["config", "get", "droa_password", "--json"],
    ["config", "get", "DR_REMOTE_MINIO_URL"],
    ["config", "get", "DR_REMOTE_MINIO_URL", "--json"],
    ["config", "get", "DR_LOCAL_S3_ENDPOINT_URL"],
    ["config", "get", "DR_MINIO_URL", "--json"],
    ["config", "validate"],
    ["config", "validate", "--json"],
]


@pytest.mark.parametrize("args", SECRET_COMMANDS, ids=" ".join)
def test_secrets_never_appear(drfc_cli: Run, secret_home: Path, args: list[str]) -> None:
    result = drfc_cli("--dir", str(secret_home), *args, env={"DR_DROA_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    for secret in (PASSWORD, URL_PASSWORD):
        for piece in (secret, secret[:8], secret[-8:]):  # also not split across wrapped lines
            assert piece not in result.output
    if "validate" not in args:
        assert MASK in result.stdout


def test_masked_values_keep_what_is_not_secret(drfc_cli: Run, secret_home: Path) -> None:
    env = {"DR_DROA_PASSWORD": PASSWORD}
    data = json.loads(drfc_cli("--dir", str(secret_home), "config", "show", "--json", env=env).stdout)
    assert data["DR_DROA_PASSWORD"] == MASK
    assert data["DR_REMOTE_MINIO_URL"] == f"http://admin:{MASK}@nas.lan:9000"
    assert data["DR_LOCAL_S3_ENDPOINT_URL"] == data["DR_MINIO_URL"] == data["DR_REMOTE_MINIO_URL"]
    rows = table_rows(drfc_cli("--dir", str(secret_home), "config", "show", env=env).stdout)
    assert rows["DR_DROA_PASSWORD"][0] == MASK
    assert rows["DR_MINIO_URL"][0] == f"http://admin:{MASK}@nas.lan:9000"


def test_secret_in_a_rejected_url_is_masked_in_errors(drfc_cli: Run, secret_home: Path) -> None:
    append(secret_home / "system.env", f'DR_REMOTE_MINIO_URL="http://admin:{URL_PASSWORD}@bad host"\n')
    for args in (["config", "validate"], ["config", "show"], ["--json", "config", "show"]):
        result = drfc_cli("--dir", str(secret_home), *args)
        assert result.exit_code == 3
        assert URL_PASSWORD not in result.output


# --- which home, which run file, which value ------------------------------------------------------------


def test_dir_beats_dr_dir_beats_cwd(drfc_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    homes = {}
    for name in ("flag", "env", "cwd"):
        homes[name] = tmp_path / name
        assert drfc_cli("--dir", str(homes[name]), "init", "--cpu").exit_code == 0
        run = (homes[name] / "run.env").read_text().replace("DR_CAR_NAME=FastCar", f"DR_CAR_NAME=car-{name}")
        (homes[name] / "run.env").write_text(run)
    monkeypatch.chdir(homes["cwd"])
    env = {"DR_DIR": str(homes["env"])}
    assert drfc_cli("--dir", str(homes["flag"]), "config", "get", "car_name", env=env).stdout == "car-flag\n"
    assert drfc_cli("config", "get", "car_name", env=env).stdout == "car-env\n"
    assert drfc_cli("config", "get", "car_name").stdout == "car-cwd\n"


def test_set_flag_beats_environment_beats_files(drfc_cli: Run, home: Path) -> None:
    base = ["--dir", str(home)]
    assert drfc_cli(*base, "config", "get", "workers").stdout == "1\n"
    assert drfc_cli(*base, "config", "get", "workers", env={"DR_WORKERS": "2"}).stdout == "2\n"
    flagged = drfc_cli(*base, "--set", "workers=4", "config", "get", "workers", env={"DR_WORKERS": "2"})
    assert flagged.stdout == "4\n"


def test_experiment_and_run_env_through_the_cli(drfc_cli: Run, home: Path, tmp_path: Path) -> None:
    assert drfc_cli("--dir", str(home), "-e", "exp1", "init", "--cpu").exit_code == 0
    exp_run = home / "experiments" / "exp1" / "run.env"
    exp_run.write_text(exp_run.read_text().replace("DR_CAR_NAME=FastCar", "DR_CAR_NAME=ExpCar"))
    base = ["--dir", str(home)]
    assert drfc_cli(*base, "-e", "exp1", "config", "get", "car_name").stdout == "ExpCar\n"
    assert drfc_cli(*base, "config", "get", "car_name", env={"DR_EXPERIMENT_NAME": "exp1"}).stdout == "ExpCar\n"
    other = tmp_path / "other.env"
    other.write_text("DR_CAR_NAME=OtherCar\n")
    result = drfc_cli(*base, "-e", "exp1", "--run-env", str(other), "config", "get", "car_name")
    assert result.stdout == "OtherCar\n"
    missing = drfc_cli(*base, "-e", "exp2", "config", "show")
    assert missing.exit_code == 3 and "exp1" in missing.stderr  # lists the experiments there
