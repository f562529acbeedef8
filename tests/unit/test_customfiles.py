"""custom_files/ checks: what the simapp would reject is reported before anything runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from drfc.config.customfiles import (
    ALGORITHMS,
    NETWORKS,
    SENSORS,
    check_hyperparameters,
    check_model_metadata,
    check_reward_function,
    validate_custom_files,
)
from drfc.config.problems import Problem
from drfc.resources import defaults_dir

FIXTURE_CUSTOM = Path(__file__).resolve().parent.parent / "fixtures" / "drfc-home" / "custom_files"


def shipped(name: str) -> Any:
    return json.loads((defaults_dir() / name).read_text(encoding="utf-8"))


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def edited(source: str, target: Path, changes: dict[str, Any]) -> Path:
    """The shipped ``source`` with ``changes`` applied, written to ``target``."""
    return write_json(target, {**shipped(source), **changes})


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def one_error(problems: list[Problem]) -> Problem:
    found = errors(problems)
    assert len(found) == 1, [p.render() for p in problems]
    return found[0]


def line_containing(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


# --- what ships is valid -------------------------------------------------------------------------------


def test_shipped_custom_files_are_valid() -> None:
    assert validate_custom_files(defaults_dir()) == []


def test_dr_fc_fixture_custom_files_are_valid() -> None:
    assert validate_custom_files(FIXTURE_CUSTOM) == []


@pytest.mark.parametrize("variant", sorted(p.name for p in defaults_dir().glob("model_metadata*.json")))
def test_every_shipped_model_metadata_variant_is_valid(variant: str) -> None:
    assert check_model_metadata(defaults_dir() / variant) == []
    # with the shipped hyperparameters too: a SAC hint may be a warning, never an error
    assert errors(check_model_metadata(defaults_dir() / variant, shipped("hyperparameters.json"))) == []


def test_three_model_metadata_variants_ship() -> None:
    kinds = set()
    for path in defaults_dir().glob("model_metadata*.json"):
        data = json.loads(path.read_text())
        kinds.add((data["action_space_type"], data["training_algorithm"]))
    assert kinds == {("discrete", "clipped_ppo"), ("continuous", "clipped_ppo"), ("continuous", "sac")}


# --- JSON itself ------------------------------------------------------------------------------------


@pytest.mark.parametrize("checker", [check_hyperparameters, check_model_metadata])
def test_bad_json_names_its_line(tmp_path: Path, checker: Any) -> None:
    path = tmp_path / "file.json"
    path.write_text('{\n  "batch_size": 64,\n  "lr": 0.0003,,\n  "x": 1\n}\n')
    problem = one_error(checker(path))
    assert problem.file == path
    assert problem.line == 3
    assert "not valid JSON" in problem.message


@pytest.mark.parametrize("checker", [check_hyperparameters, check_model_metadata])
def test_json_that_is_not_an_object(tmp_path: Path, checker: Any) -> None:
    path = write_json(tmp_path / "file.json", [1, 2])
    assert "object" in one_error(checker(path)).message


def test_missing_files_and_folder(tmp_path: Path) -> None:
    problems = validate_custom_files(tmp_path)
    assert sorted(p.file.name for p in problems if p.file) == [
        "hyperparameters.json",
        "model_metadata.json",
        "reward_function.py",
    ]
    assert all("missing" in p.message for p in problems)
    gone = validate_custom_files(tmp_path / "nope")
    assert len(gone) == 1 and "does not exist" in gone[0].message


# --- model_metadata.json ---------------------------------------------------------------------------


def metadata(tmp_path: Path, **changes: Any) -> Path:
    return edited("model_metadata.json", tmp_path / "model_metadata.json", changes)


def continuous(tmp_path: Path, **changes: Any) -> Path:
    return edited("model_metadata_cont.json", tmp_path / "model_metadata.json", changes)


@pytest.mark.parametrize(
    ("action", "field", "words"),
    [
        ({"steering_angle": 45, "speed": 1}, "steering_angle", "at most 30"),
        ({"steering_angle": -31, "speed": 1}, "steering_angle", "at least -30"),
        ({"steering_angle": 0, "speed": 0}, "speed", "greater than 0"),
        ({"steering_angle": 0, "speed": 4.5}, "speed", "at most 4"),
        ({"steering_angle": 0, "speed": "fast"}, "speed", "number"),
        ({"steering_angle": 0}, "speed", "missing"),
    ],
)
def test_discrete_action_out_of_range(tmp_path: Path, action: dict[str, Any], field: str, words: str) -> None:
    space = [{"steering_angle": 0, "speed": 1}, action]
    path = metadata(tmp_path, action_space=space)
    problem = one_error(check_model_metadata(path))
    assert "action 1" in problem.message and field in problem.message and words in problem.message
    assert problem.key == "action_space"
    assert problem.line == line_containing(path, '"action_space"')


def test_empty_discrete_space(tmp_path: Path) -> None:
    assert "non-empty list" in one_error(check_model_metadata(metadata(tmp_path, action_space=[]))).message


@pytest.mark.parametrize("name", ["steering_angle", "speed"])
def test_continuous_low_must_be_below_high(tmp_path: Path, name: str) -> None:
    space = shipped("model_metadata_cont.json")["action_space"]
    space[name] = {"low": 1.5, "high": 1.5}
    path = continuous(tmp_path, action_space=space)
    problem = one_error(check_model_metadata(path))
    assert f"{name}.low must be below {name}.high" in problem.message


def test_continuous_bound_out_of_range_and_missing_range(tmp_path: Path) -> None:
    path = continuous(tmp_path, action_space={"steering_angle": {"low": -40, "high": 30}, "speed": {"low": 1}})
    messages = sorted(p.message for p in errors(check_model_metadata(path)))
    assert messages == ["speed needs a low and a high value", "steering_angle.low must be at least -30"]


def test_action_space_type_must_match_its_shape(tmp_path: Path) -> None:
    path = metadata(tmp_path, action_space_type="diagonal")
    assert one_error(check_model_metadata(path)).key == "action_space_type"
    shape = metadata(tmp_path, action_space_type="continuous")  # a list where a dict is needed
    assert "continuous space" in one_error(check_model_metadata(shape)).message


def test_unknown_sensor(tmp_path: Path) -> None:
    path = metadata(tmp_path, sensor=["FRONT_FACING_CAMERA", "RADAR"])
    problem = one_error(check_model_metadata(path))
    assert "RADAR" in problem.message
    assert all(sensor in (problem.valid or "") for sensor in SENSORS)
    assert problem.line == line_containing(path, '"sensor"')


def test_two_camera_kinds_at_once(tmp_path: Path) -> None:
    path = metadata(tmp_path, sensor=["FRONT_FACING_CAMERA", "STEREO_CAMERAS"])
    assert "one camera" in one_error(check_model_metadata(path)).message


def test_unknown_network(tmp_path: Path) -> None:
    problem = one_error(check_model_metadata(metadata(tmp_path, neural_network="RESNET_50")))
    assert problem.key == "neural_network" and problem.value == '"RESNET_50"'
    assert all(n in (problem.valid or "") for n in NETWORKS)


def test_unknown_algorithm(tmp_path: Path) -> None:
    problem = one_error(check_model_metadata(metadata(tmp_path, training_algorithm="dqn")))
    assert problem.key == "training_algorithm"
    assert all(a in (problem.valid or "") for a in ALGORITHMS)


def test_sac_needs_a_continuous_space(tmp_path: Path) -> None:
    problem = one_error(check_model_metadata(metadata(tmp_path, training_algorithm="sac")))
    assert "continuous" in problem.message and problem.key == "training_algorithm"


def test_sac_with_many_episodes_between_training_is_only_a_warning(tmp_path: Path) -> None:
    path = continuous(tmp_path, training_algorithm="sac")
    problems = check_model_metadata(path, {"num_episodes_between_training": 20})
    assert errors(problems) == []
    assert [p.severity for p in problems] == ["warning"]
    assert check_model_metadata(path, {"num_episodes_between_training": 1}) == []


def test_all_metadata_problems_are_reported_together(tmp_path: Path) -> None:
    path = metadata(
        tmp_path,
        action_space=[{"steering_angle": 90, "speed": 1}],
        sensor=["SONAR"],
        neural_network="BIG",
        training_algorithm="dqn",
    )
    assert sorted(p.key or "" for p in errors(check_model_metadata(path))) == [
        "action_space",
        "neural_network",
        "sensor",
        "training_algorithm",
    ]


# --- hyperparameters.json ----------------------------------------------------------------------------


def hyper(tmp_path: Path, **changes: Any) -> Path:
    return edited("hyperparameters.json", tmp_path / "hyperparameters.json", changes)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("batch_size", "64", "must be a number"),
        ("batch_size", 64.5, "whole number"),
        ("batch_size", 0, "at least 1"),
        ("num_epochs", True, "must be a number"),
        ("discount_factor", 1.5, "at most 1"),
        ("lr", 0, "greater than 0"),
        ("e_greedy_value", -0.1, "at least 0"),
        ("loss_type", "l1", "not an accepted value"),
        ("exploration_type", 3, "not an accepted value"),
    ],
)
def test_bad_hyperparameter(tmp_path: Path, key: str, value: Any, words: str) -> None:
    path = hyper(tmp_path, **{key: value})
    problem = one_error(check_hyperparameters(path))
    assert (problem.key, problem.value) == (key, json.dumps(value))
    assert words in problem.message
    assert problem.valid
    assert problem.line == line_containing(path, f'"{key}"')


def test_unknown_hyperparameter_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    path = hyper(tmp_path, batchsize=32, completely_different=1)
    problems = check_hyperparameters(path)
    assert errors(problems) == []
    by_key = {p.key: p for p in problems}
    assert by_key["batchsize"].severity == "warning"
    assert by_key["batchsize"].valid == "did you mean batch_size?"
    assert by_key["completely_different"].valid is None


# --- reward_function.py -----------------------------------------------------------------------------


def reward(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "reward_function.py"
    path.write_text(source, encoding="utf-8")
    return path


def test_reward_function_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = reward(tmp_path, "def reward_function(params):\n    x = 1\n    return (x +\n\nprint('x')\n")
    problem = one_error(check_reward_function(path))
    assert "does not compile" in problem.message
    assert problem.line in (3, 4, 5)  # where Python places an unclosed bracket
    indent = reward(tmp_path, "def reward_function(params):\n    x = 1\n      return x\n")
    assert one_error(check_reward_function(indent)).line == 3


def test_reward_function_must_exist_at_top_level(tmp_path: Path) -> None:
    missing = one_error(check_reward_function(reward(tmp_path, "def reward(params):\n    return 1.0\n")))
    assert "reward_function" in missing.message and missing.valid
    nested = "class R:\n    def reward_function(self, params):\n        return 1.0\n"
    assert "top level" in one_error(check_reward_function(reward(tmp_path, nested))).message


def test_reward_function_needs_a_parameter(tmp_path: Path) -> None:
    problem = one_error(check_reward_function(reward(tmp_path, "x = 1\n\n\ndef reward_function():\n    return 1.0\n")))
    assert problem.line == 4
    assert "params" in problem.message


@pytest.mark.parametrize("signature", ["params", "p", "*args", "params, extra=None"])
def test_reward_function_signatures_that_work(tmp_path: Path, signature: str) -> None:
    assert check_reward_function(reward(tmp_path, f"def reward_function({signature}):\n    return 1.0\n")) == []


def test_one_pass_reports_every_file(tmp_path: Path) -> None:
    shutil.copytree(defaults_dir(), tmp_path / "cf", ignore=shutil.ignore_patterns("template-*", "__pycache__"))
    folder = tmp_path / "cf"
    hyper(folder, lr=-1)
    metadata(folder, neural_network="BIG")
    reward(folder, "def reward_function(:\n")
    files = sorted(p.file.name for p in errors(validate_custom_files(folder)) if p.file)
    assert files == ["hyperparameters.json", "model_metadata.json", "reward_function.py"]
