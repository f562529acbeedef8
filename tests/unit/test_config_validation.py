"""Validation reports every problem in one pass, each with file, line, key, value and what is valid."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from drfc.config.load import Inspection, LoadOptions, Purpose, inspect_config
from drfc.config.model import MASK
from drfc.config.problems import Problem
from drfc.config.schema import CarColor, spec_by_key
from tests.support.config_home import write_home


def load(
    home: Path, purpose: Purpose = "training", environ: Mapping[str, str] | None = None, **options: object
) -> Inspection:
    return inspect_config(LoadOptions(home=home, purpose=purpose, **options), environ=dict(environ or {}))  # type: ignore[arg-type]


def only_error(found: Inspection) -> Problem:
    assert len(found.errors) == 1, [p.render(found.home) for p in found.errors]
    return found.errors[0]


def multi(workers: int, run_extra: str = "") -> tuple[str, str]:
    return f"DR_WORKERS={workers}\n", f"DR_RUN_ID=0\nDR_TRAIN_MULTI_CONFIG=True\n{run_extra}"


# --- single bad values ------------------------------------------------------------------------------

BAD_VALUES = [
    # (file, key, bad value, words the message must contain, words the valid text must contain)
    ("system", "DR_WORKERS", "two", "whole number", "whole number"),
    ("system", "DR_WORKERS", "0", "out of range", "1"),
    ("system", "DR_WORKERS", "-3", "out of range", "1"),
    ("system", "DR_WORKERS", "1.5", "whole number", "whole number"),
    ("run", "DR_EVAL_OFF_TRACK_PENALTY", "fast", "not a number", "number"),
    ("run", "DR_EVAL_OFF_TRACK_PENALTY", "nan", "finite", "number"),
    ("run", "DR_EVAL_OFF_TRACK_PENALTY", "-1", "out of range", "at least 0"),
    ("system", "DR_GUI_ENABLE", "maybe", "not a boolean", "True or False"),
    ("run", "DR_TRAIN_MULTI_CONFIG", "Ture", "not a boolean", "True or False"),
    ("system", "DR_CLOUD", "moon", "allowed values", None),
    ("system", "DR_DOCKER_STYLE", "k8s", "allowed values", None),
    ("run", "DR_RACE_TYPE", "SPRINT", "allowed values", None),
    ("run", "DR_CAR_COLOR", "Pink", "allowed values", None),
    ("run", "DR_EVAL_CHECKPOINT", "worst", "allowed values", None),
    ("run", "DR_LOCAL_S3_PRETRAINED_CHECKPOINT", "first", "allowed values", None),
    ("run", "DR_TRAIN_BEST_MODEL_METRIC", "speed", "allowed values", None),
    ("run", "DR_RUN_ID", "100", "ports", "0 to 99"),
    ("run", "DR_RUN_ID", "-1", "out of range", "0 to 99"),
    ("run", "DR_RUN_ID", "one", "whole number", "whole number"),
    ("run", "DR_OA_OBJECT_POSITIONS", "0.5", "not 'progress,lane'", "progress,lane"),
    ("run", "DR_OA_OBJECT_POSITIONS", '"0.2,-1;1.5,1"', "position 2 has progress 1.5", "progress 0..1"),
    ("run", "DR_OA_OBJECT_POSITIONS", "0.2,0", "lane 0", "lane -1 or 1"),
    ("run", "DR_OA_OBJECT_POSITIONS", "0.2,-1;half,1", "non-numeric", "progress,lane"),
    ("run", "DR_OA_OBJECT_POSITIONS", "0.2,-1,3", "not 'progress,lane'", "progress,lane"),
    ("system", "DR_WEBVIEWER_PORT", "70000", "out of range", "port"),
    ("system", "DR_LOCAL_S3_BUCKET", "My_Bucket", "bucket name", "lower-case"),
    ("run", "DR_LOCAL_S3_MODEL_PREFIX", "/abs/prefix/", "S3 prefix", "without spaces"),
    ("system", "DR_REMOTE_MINIO_URL", "mynas:9000", "URL", "http://"),
    ("system", "DR_SAGEMAKER_CUDA_DEVICES", "gpu0", "GPU ids", "0,1"),
]


@pytest.mark.parametrize(("where", "key", "value", "message", "valid"), BAD_VALUES)
def test_bad_value_is_one_precise_error(
    tmp_path: Path, where: str, key: str, value: str, message: str, valid: str | None
) -> None:
    line = f"DR_DOCKER_STYLE=compose\n# a comment\n{key}={value}\n"
    home = write_home(tmp_path / "home", **{where: line})
    found = load(home)
    problem = only_error(found)
    assert problem.file == home.resolve() / f"{where}.env"
    assert problem.line == 3
    assert problem.key == key
    assert problem.value == value.strip('"')
    assert message in problem.message
    spec = spec_by_key()[key]
    for choice in spec.choices:  # an enum lists every allowed value
        assert choice in (problem.valid or "")
    if valid is not None:
        assert valid in (problem.valid or "")
    rendered = problem.render(found.home)
    assert rendered.startswith(f"{where}.env:3: {key}=")
    assert found.config is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [(t, True) for t in ("True", "true", "1", "yes")] + [(t, False) for t in ("False", "false", "0", "no")],
)
def test_boolean_spellings(tmp_path: Path, text: str, expected: bool) -> None:
    home = write_home(tmp_path / "home", system=f"DR_GUI_ENABLE={text}\n")
    found = load(home)
    assert found.errors == []
    assert found.config is not None and found.config.settings.gui_enable is expected


def test_enum_values_are_matched_without_regard_to_case(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", run="DR_CAR_COLOR=purple\n")
    found = load(home)
    assert found.config is not None and found.config.settings.car_color is CarColor.PURPLE


@pytest.mark.parametrize("value", ["", '"0.23,-1;0.46,1"', "0.23,-1;0.46,1", "0,1", "1.0,-1"])
def test_good_object_positions(tmp_path: Path, value: str) -> None:
    home = write_home(tmp_path / "home", run=f"DR_OA_OBJECT_POSITIONS={value}\n")
    assert load(home).errors == []


# --- all at once -------------------------------------------------------------------------------------


def test_five_bad_values_in_one_file_give_five_errors(tmp_path: Path) -> None:
    run = (
        "DR_RUN_ID=abc\n"
        "DR_CAR_COLOR=Pink\n"
        "# comment in between\n"
        "DR_EVAL_IS_CONTINUOUS=perhaps\n"
        "DR_TRAIN_START_POSITION_OFFSET=half\n"
        "DR_EVAL_CHECKPOINT=middle\n"
    )
    home = write_home(tmp_path / "home", run=run)
    found = load(home)
    assert sorted((p.line, p.key) for p in found.errors) == [
        (1, "DR_RUN_ID"),
        (2, "DR_CAR_COLOR"),
        (4, "DR_EVAL_IS_CONTINUOUS"),
        (5, "DR_TRAIN_START_POSITION_OFFSET"),
        (6, "DR_EVAL_CHECKPOINT"),
    ]
    for problem in found.errors:
        assert problem.file == home.resolve() / "run.env"
        assert problem.value is not None and problem.valid


def test_problems_in_every_file_are_collected_together(tmp_path: Path) -> None:
    system, run = multi(3, "DR_CAR_COLOR=Pink\nDR_SOMETHING_ODD=1\n")
    home = write_home(
        tmp_path / "home",
        system=system + "DR_CLOUD=moon\nnot a line\n",
        run=run,
        worker_2="DR_OA_NUMBER_OF_OBSTACLES=many\n",
    )
    found = load(home)
    places = {(p.file.name if p.file else None, p.key) for p in found.errors}
    assert places == {
        ("system.env", "DR_CLOUD"),
        ("system.env", None),  # the unreadable line
        ("run.env", "DR_CAR_COLOR"),
        ("worker-2.env", "DR_OA_NUMBER_OF_OBSTACLES"),
        ("worker-3.env", "DR_TRAIN_MULTI_CONFIG"),  # missing file
    }
    assert [w.key for w in found.warnings] == ["DR_SOMETHING_ODD"]


# --- rules that span keys -----------------------------------------------------------------------------


def test_multi_config_names_the_missing_worker_file(tmp_path: Path) -> None:
    system, run = multi(3)
    home = write_home(tmp_path / "home", system=system, run=run, worker_2="DR_WORLD_NAME=two\n")
    problem = only_error(load(home))
    missing = home.resolve() / "worker-3.env"
    assert problem.file == missing
    assert problem.key == "DR_TRAIN_MULTI_CONFIG"
    assert "worker-3.env" in problem.message
    assert str(missing) in (problem.valid or "")


@pytest.mark.parametrize(
    ("workers", "multi_config", "purpose"),
    [(1, "True", "training"), (3, "False", "training"), (3, "True", "evaluation")],
)
def test_worker_files_are_not_needed_when_unused(
    tmp_path: Path, workers: int, multi_config: str, purpose: Purpose
) -> None:
    home = write_home(
        tmp_path / "home", system=f"DR_WORKERS={workers}\n", run=f"DR_TRAIN_MULTI_CONFIG={multi_config}\n"
    )
    found = load(home, purpose)
    assert found.errors == []
    assert found.config is not None
    assert [w.file for w in found.config.workers] == [None] * workers


def test_remote_cloud_needs_a_minio_url(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", system="DR_WORKERS=1\nDR_CLOUD=remote\n")
    problem = only_error(load(home))
    assert (problem.key, problem.line, problem.value) == ("DR_CLOUD", 2, "remote")
    assert "DR_REMOTE_MINIO_URL" in problem.message
    good = write_home(tmp_path / "good", system="DR_CLOUD=remote\nDR_REMOTE_MINIO_URL=http://nas:9000/\n")
    found = load(good)
    assert found.errors == []
    assert found.config is not None and found.config.s3_endpoint_host == "http://nas:9000"


def test_head_to_model_cannot_be_trained(tmp_path: Path) -> None:
    run = "DR_RACE_TYPE=HEAD_TO_MODEL\nDR_EVAL_OPP_S3_MODEL_PREFIX=rival\n"
    home = write_home(tmp_path / "home", run=run)
    problem = only_error(load(home, "training"))
    assert (problem.key, problem.line, problem.value) == ("DR_RACE_TYPE", 1, "HEAD_TO_MODEL")
    assert "TIME_TRIAL" in (problem.valid or "")
    assert load(home, "evaluation").errors == []
    # config show/get/set load with "any": an evaluation run.env must stay usable there
    assert load(home, "any").errors == []


def test_head_to_model_against_itself_is_an_evaluation_error(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", run="DR_RACE_TYPE=HEAD_TO_MODEL\n")
    problem = only_error(load(home, "evaluation"))
    assert problem.key == "DR_EVAL_OPP_S3_MODEL_PREFIX"


def test_head_to_model_in_a_worker_file_is_an_error_there(tmp_path: Path) -> None:
    system, run = multi(2)
    home = write_home(
        tmp_path / "home", system=system, run=run, worker_2="DR_WORLD_NAME=w\nDR_RACE_TYPE=HEAD_TO_MODEL\n"
    )
    problem = only_error(load(home))
    assert (problem.file, problem.line, problem.key) == (home.resolve() / "worker-2.env", 2, "DR_RACE_TYPE")


def test_lane_change_times_must_be_ordered(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", run="DR_H2B_LOWER_LANE_CHANGE_TIME=6\nDR_H2B_UPPER_LANE_CHANGE_TIME=5\n")
    problem = only_error(load(home))
    assert problem.key == "DR_H2B_LOWER_LANE_CHANGE_TIME" and problem.line == 1


def test_mount_directory_is_checked_as_written(tmp_path: Path) -> None:
    # DRfC lower-cases the path before testing it, so /Data/Sims is silently not mounted (§8.6).
    mixed = tmp_path / "Data" / "Sims"
    mixed.mkdir(parents=True)
    home = write_home(tmp_path / "home", system=f"DR_ROBOMAKER_MOUNT_SIMAPP_DIR={mixed}\n")
    found = load(home)
    assert found.errors == []
    assert found.config is not None and found.config.settings.robomaker_mount_simapp_dir == str(mixed)
    missing = write_home(tmp_path / "h2", system=f"DR_ROBOMAKER_MOUNT_SCRIPTS_DIR={tmp_path / 'nope'}\n")
    assert only_error(load(missing)).key == "DR_ROBOMAKER_MOUNT_SCRIPTS_DIR"


# --- warnings ---------------------------------------------------------------------------------------


def test_unknown_key_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", system="DR_WORKRS=3\nDR_TOTALLY_UNRELATED_THING=1\n")
    found = load(home)
    assert found.errors == []
    by_key = {w.key: w for w in found.warnings}
    assert by_key["DR_WORKRS"].valid == "did you mean DR_WORKERS?"
    assert by_key["DR_WORKRS"].line == 1
    assert by_key["DR_TOTALLY_UNRELATED_THING"].valid is None
    assert found.config is not None and found.config.settings.workers == 1


def test_retired_and_old_names_warn_and_old_names_still_apply(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", run="DR_CHANGE_START_POSITION=False\nDR_KINESIS_STREAM_ENABLE=True\n")
    found = load(home)
    assert found.errors == []
    messages = {w.key: w.message for w in found.warnings}
    assert "DR_TRAIN_CHANGE_START_POSITION" in messages["DR_CHANGE_START_POSITION"]
    assert "DR_CAMERA_KVS_ENABLE" in messages["DR_KINESIS_STREAM_ENABLE"]
    assert found.config is not None and found.config.settings.train_change_start_position is False


def test_a_key_set_twice_warns_and_the_later_value_wins(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", run="DR_CAR_NAME=first\nDR_CAR_NAME=second\n")
    found = load(home)
    assert found.raw["DR_CAR_NAME"] == "second"
    assert [(w.key, w.line) for w in found.warnings] == [("DR_CAR_NAME", 2)]


def test_worker_file_keys_that_cannot_differ_per_worker_warn(tmp_path: Path) -> None:
    system, run = multi(2)
    home = write_home(tmp_path / "home", system=system, run=run, worker_2="DR_RUN_ID=5\nDR_WORKERS=4\nDR_WORLDNAME=x\n")
    found = load(home)
    assert found.errors == []
    warnings = {w.key: w for w in found.warnings}
    assert "cannot differ per worker" in warnings["DR_RUN_ID"].message
    assert "cannot differ per worker" in warnings["DR_WORKERS"].message
    assert warnings["DR_WORLDNAME"].valid == "did you mean DR_WORLD_NAME?"
    assert found.config is not None
    assert found.config.workers[1].settings.run_id == 0  # ignored, not applied


def test_bad_value_in_a_worker_file_points_at_that_file(tmp_path: Path) -> None:
    system, run = multi(2)
    home = write_home(tmp_path / "home", system=system, run=run, worker_2="# w2\nDR_CAR_COLOR=Gold\n")
    problem = only_error(load(home))
    assert (problem.file, problem.line, problem.key, problem.value) == (
        home.resolve() / "worker-2.env",
        2,
        "DR_CAR_COLOR",
        "Gold",
    )


# --- worker settings ------------------------------------------------------------------------------------


def test_each_worker_starts_from_run_env_without_leaking(tmp_path: Path) -> None:
    # DRfC's prepare-config.py keeps worker 2's values in os.environ for worker 3 (§8.22).
    system, run = multi(3, "DR_WORLD_NAME=base_track\nDR_CAR_COLOR=Purple\nDR_RACE_TYPE=TIME_TRIAL\n")
    home = write_home(
        tmp_path / "home",
        system=system,
        run=run,
        worker_2="DR_WORLD_NAME=track2\nDR_CAR_COLOR=Blue\nDR_RACE_TYPE=OBJECT_AVOIDANCE\n",
        worker_3="DR_WORLD_NAME=track3\n",
    )
    found = load(home)
    assert found.errors == []
    assert found.config is not None
    one, two, three = (w.settings for w in found.config.workers)
    assert (one.world_name, one.car_color.value, one.race_type.value) == ("base_track", "Purple", "TIME_TRIAL")
    assert (two.world_name, two.car_color.value, two.race_type.value) == ("track2", "Blue", "OBJECT_AVOIDANCE")
    assert (three.world_name, three.car_color.value, three.race_type.value) == ("track3", "Purple", "TIME_TRIAL")


def test_worker_file_with_blank_lines_equals_signs_and_references(tmp_path: Path) -> None:
    # DRfC's worker parser crashes on blank lines and on '=' in values, and does no $VAR expansion.
    system, run = multi(2, "DR_WORLD_NAME=reinvent_base\n")
    worker = "\nDR_WORLD_NAME=${DR_WORLD_NAME}_cw\n\nDR_OA_OBSTACLE_TYPE=box=tall\n"
    home = write_home(tmp_path / "home", system=system, run=run, worker_2=worker)
    found = load(home)
    assert found.errors == []
    assert found.config is not None
    second = found.config.workers[1].settings
    assert second.world_name == "reinvent_base_cw"
    assert second.oa_obstacle_type == "box=tall"


# --- where non-file values are reported -----------------------------------------------------------------


def test_bad_environment_value_is_located_in_the_environment(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home")
    problem = only_error(load(home, environ={"DR_WORKERS": "lots"}))
    assert problem.location() == "environment"
    assert problem.render().startswith("environment: DR_WORKERS='lots'")


def test_bad_and_unknown_flags(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home")
    found = load(home, overrides={"DR_WORKERS": "lots", "DR_WROLD_NAME": "x"})
    rendered = sorted(p.render() for p in found.errors)
    assert rendered == [
        "flag: --set DR_WORKERS='lots': is not a whole number (valid: a whole number from 1 to 50)",
        "flag: --set DR_WROLD_NAME: is not a drfc setting (valid: did you mean DR_WORLD_NAME?)",
    ]


def test_problem_values_never_show_secrets(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", system='DR_CLOUD=remote\nDR_REMOTE_MINIO_URL="http://admin:hunter22@my nas"\n')
    problem = only_error(load(home))
    assert problem.key == "DR_REMOTE_MINIO_URL"
    assert "hunter22" not in problem.render()
    assert MASK in (problem.value or "")
