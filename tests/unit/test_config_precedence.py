"""Where each value comes from: default < system.env < run file < DR_* environment < --set flag.

Also which files are read: the DRfC home (``--dir`` > ``DR_DIR`` > cwd), the run
file (``--run-env`` > experiment > ``run.env``), and the experiment
(``-e`` > ``DR_EXPERIMENT_NAME`` in the environment > in ``system.env``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from drfc.config.load import Inspection, LoadOptions, inspect_config, locate_home
from drfc.config.model import Source
from drfc.config.schema import spec_by_key
from tests.support.config_home import write_home

LAYERS = ("system", "run", "environment", "flag")


def load(home: Path, environ: Mapping[str, str] | None = None, **options: object) -> Inspection:
    return inspect_config(LoadOptions(home=home, **options), environ=dict(environ or {}))  # type: ignore[arg-type]


def add_experiment(home: Path, name: str, car: str) -> Path:
    folder = home / "experiments" / name
    (folder / "custom_files").mkdir(parents=True)
    (folder / "run.env").write_text(f"DR_CAR_NAME={car}\n", encoding="utf-8")
    return folder


# --- the five layers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "present",
    [(), ("system",), ("run",), ("environment",), ("flag",), ("system", "run"), ("run", "environment"), LAYERS],
    ids=lambda present: "+".join(present) or "default-only",
)
def test_strongest_layer_present_wins(tmp_path: Path, present: tuple[str, ...]) -> None:
    home = write_home(
        tmp_path / "home",
        system="DR_CAR_NAME=from-system\n" if "system" in present else "",
        run="DR_RUN_ID=0\nDR_CAR_NAME=from-run\n" if "run" in present else "",
    )
    environ = {"DR_CAR_NAME": "from-environment"} if "environment" in present else {}
    flags = {"DR_CAR_NAME": "from-flag"} if "flag" in present else {}
    found = load(home, environ, overrides=flags)
    assert found.errors == []
    winner = present[-1] if present else "default"
    expected = spec_by_key()["DR_CAR_NAME"].default if winner == "default" else f"from-{winner}"
    assert found.raw["DR_CAR_NAME"] == expected
    assert found.sources["DR_CAR_NAME"].kind == winner
    assert found.config is not None and found.config.settings.car_name == expected


def test_file_sources_name_file_and_line(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", system="# c\nDR_WORKERS=2\n", run="DR_RUN_ID=3\n\nDR_CAR_NAME=x\n")
    found = load(home)
    assert found.sources["DR_WORKERS"] == Source("system", home.resolve() / "system.env", 2)
    assert found.sources["DR_CAR_NAME"] == Source("run", home.resolve() / "run.env", 3)
    assert found.sources["DR_RACE_TYPE"].kind == "default"


def test_environment_overriding_a_file_value_records_it_and_warns(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", run="DR_RUN_ID=0\nDR_WORLD_NAME=file_track\n")
    found = load(home, {"DR_WORLD_NAME": "env_track"})
    assert found.raw["DR_WORLD_NAME"] == "env_track"
    assert found.sources["DR_WORLD_NAME"] == Source("environment", overrides="run.env:2")
    warnings = [w for w in found.warnings if "DR_WORLD_NAME" in w.message]
    assert len(warnings) == 1
    assert "environment" in warnings[0].message
    assert found.errors == []


def test_environment_equal_to_the_file_value_is_not_an_override(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", run="DR_WORLD_NAME=same\n")
    found = load(home, {"DR_WORLD_NAME": "same"})
    assert found.sources["DR_WORLD_NAME"].overrides is None
    assert not [w for w in found.warnings if "DR_WORLD_NAME" in w.message]


def test_environment_value_for_a_key_in_no_file_is_not_an_override(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home")
    found = load(home, {"DR_WORKERS": "4"})
    assert found.sources["DR_WORKERS"] == Source("environment")
    assert found.config is not None and found.config.settings.workers == 4
    assert found.warnings == []


def test_flag_overriding_a_file_value_records_the_file(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", system="DR_WORKERS=2\n")
    found = load(home, {"DR_WORKERS": "3"}, overrides={"DR_WORKERS": "5"})
    assert found.sources["DR_WORKERS"] == Source("flag", overrides="system.env:1")
    assert found.config is not None and found.config.settings.workers == 5


def test_references_follow_the_effective_value(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", run="DR_CAR_NAME=FileCar\nDR_DISPLAY_NAME=$DR_CAR_NAME\n")
    assert load(home, {"DR_CAR_NAME": "EnvCar"}).raw["DR_DISPLAY_NAME"] == "EnvCar"
    assert load(home, overrides={"DR_CAR_NAME": "FlagCar"}).raw["DR_DISPLAY_NAME"] == "FlagCar"


def test_defaults_expand_from_the_effective_values(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", run="DR_LOCAL_S3_MODEL_PREFIX=my-model\n")
    found = load(home)
    assert found.raw["DR_LOCAL_S3_METRICS_PREFIX"] == "my-model/metrics"
    assert found.raw["DR_UPLOAD_S3_PREFIX"] == "my-model-1"


def test_unrelated_and_computed_environment_variables_are_ignored(tmp_path: Path) -> None:
    # A shell where DRfC was activated also exports computed names such as DR_MINIO_URL.
    home = write_home(tmp_path / "home")
    found = load(home, {"DR_MINIO_URL": "http://minio:9000", "DR_LOCAL_ACCESS_KEY_ID": "x", "HOME": "/root"})
    assert found.problems == []
    assert "DR_MINIO_URL" not in found.raw


# --- the home ---------------------------------------------------------------------------------------


def test_locate_home_prefers_flag_then_dr_dir_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag, env_dir, cwd = tmp_path / "flag", tmp_path / "env", tmp_path / "cwd"
    for d in (flag, env_dir, cwd):
        d.mkdir()
    monkeypatch.chdir(cwd)
    assert locate_home(flag, {"DR_DIR": str(env_dir)}) == flag.resolve()
    assert locate_home(None, {"DR_DIR": str(env_dir)}) == env_dir.resolve()
    assert locate_home(None, {"DR_DIR": ""}) == cwd.resolve()
    assert locate_home(None, {}) == cwd.resolve()


def test_dr_dir_selects_the_home_when_there_is_no_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_home(tmp_path / "a", run="DR_CAR_NAME=CarA\n")
    write_home(tmp_path / "b", run="DR_CAR_NAME=CarB\n")
    monkeypatch.chdir(tmp_path / "a")
    assert inspect_config(LoadOptions(), environ={"DR_DIR": str(tmp_path / "b")}).raw["DR_CAR_NAME"] == "CarB"
    assert inspect_config(LoadOptions(), environ={}).raw["DR_CAR_NAME"] == "CarA"
    flagged = LoadOptions(home=tmp_path / "a")
    assert inspect_config(flagged, environ={"DR_DIR": str(tmp_path / "b")}).raw["DR_CAR_NAME"] == "CarA"


def test_missing_home_and_missing_system_env_are_clear(tmp_path: Path) -> None:
    found = load(tmp_path / "nowhere")
    assert len(found.errors) == 1 and "not a directory" in found.errors[0].message
    (tmp_path / "empty").mkdir()
    found = load(tmp_path / "empty")
    assert len(found.errors) == 1
    rendered = found.errors[0].render(found.home)
    assert str((tmp_path / "empty").resolve()) in rendered
    assert "drfc init" in rendered
    assert not rendered.startswith("environment")


# --- the run file and experiments ------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["flag", "environment", "system.env"])
def test_experiment_selects_its_run_env_and_custom_files(tmp_path: Path, via: str) -> None:
    home = write_home(
        tmp_path / "home",
        system="DR_EXPERIMENT_NAME=exp1\n" if via == "system.env" else "",
        run="DR_CAR_NAME=TopLevel\n",
    )
    folder = add_experiment(home, "exp1", "ExperimentCar")
    options = {"experiment": "exp1"} if via == "flag" else {}
    environ = {"DR_EXPERIMENT_NAME": "exp1"} if via == "environment" else {}
    found = load(home, environ, **options)
    assert found.errors == []
    assert found.run_file == folder.resolve() / "run.env"
    assert found.raw["DR_CAR_NAME"] == "ExperimentCar"
    assert found.config is not None
    assert found.config.experiment == "exp1"
    assert found.config.custom_files_dir == folder.resolve() / "custom_files"


def test_experiment_choice_order_is_flag_then_environment_then_system_env(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", system="DR_EXPERIMENT_NAME=from-system\n")
    for name in ("from-flag", "from-env", "from-system"):
        add_experiment(home, name, name)
    env = {"DR_EXPERIMENT_NAME": "from-env"}
    assert load(home, env, experiment="from-flag").raw["DR_CAR_NAME"] == "from-flag"
    assert load(home, env).raw["DR_CAR_NAME"] == "from-env"
    assert load(home).raw["DR_CAR_NAME"] == "from-system"


def test_run_env_flag_wins_over_the_experiment(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", system="DR_EXPERIMENT_NAME=exp1\n")
    add_experiment(home, "exp1", "ExperimentCar")
    other = tmp_path / "other.env"
    other.write_text("DR_CAR_NAME=ExplicitCar\n")
    found = load(home, experiment="exp1", run_env=other)
    assert found.run_file == other.resolve()
    assert found.raw["DR_CAR_NAME"] == "ExplicitCar"


def test_relative_run_env_is_found_in_cwd_then_in_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = write_home(tmp_path / "home")
    (home / "alt.env").write_text("DR_CAR_NAME=HomeAlt\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert load(home, run_env=Path("alt.env")).raw["DR_CAR_NAME"] == "HomeAlt"
    (cwd / "alt.env").write_text("DR_CAR_NAME=CwdAlt\n")
    assert load(home, run_env=Path("alt.env")).raw["DR_CAR_NAME"] == "CwdAlt"


def test_missing_run_env_flag_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    # DRfC silently falls back to run.env when the given file does not exist (§8.4).
    home = write_home(tmp_path / "home", run="DR_CAR_NAME=Fallback\n")
    found = load(home, run_env=tmp_path / "typo.env")
    assert found.config is None
    assert len(found.errors) == 1
    assert str(tmp_path / "typo.env") in found.errors[0].message
    assert found.errors[0].location() == "flag"


def test_missing_experiment_folder_lists_the_ones_there(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", system="# x\nDR_EXPERIMENT_NAME=exp9\n")
    add_experiment(home, "exp1", "a")
    add_experiment(home, "exp2", "b")
    found = load(home)
    assert len(found.errors) == 1
    problem = found.errors[0]
    assert "exp9" in problem.message and str(home.resolve() / "experiments" / "exp9") in problem.message
    assert problem.valid == "exp1, exp2"
    assert (problem.file, problem.line) == (home.resolve() / "system.env", 2)  # where the name was set
    flagged = load(home, experiment="exp9").errors[0]
    assert flagged.location() == "flag"


def test_experiment_without_run_env_is_an_error(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home")
    (home / "experiments" / "bare").mkdir(parents=True)
    found = load(home, experiment="bare")
    assert len(found.errors) == 1
    assert "has no run.env" in found.errors[0].message


def test_missing_top_level_run_env_is_an_error(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home")
    (home / "run.env").unlink()
    found = load(home)
    assert len(found.errors) == 1
    assert "no run.env" in found.errors[0].message and "drfc init" in (found.errors[0].valid or "")


def test_worker_files_come_from_the_experiment_folder(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", system="DR_WORKERS=2\n")
    folder = add_experiment(home, "exp1", "car")
    with (folder / "run.env").open("a") as fh:
        fh.write("DR_TRAIN_MULTI_CONFIG=True\n")
    (folder / "worker-2.env").write_text("DR_WORLD_NAME=exp_track\n")
    (home / "worker-2.env").write_text("DR_WORLD_NAME=top_track\n")
    found = load(home, experiment="exp1", purpose="training")
    assert found.errors == []
    assert found.config is not None
    assert found.config.workers[1].settings.world_name == "exp_track"
