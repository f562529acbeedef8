"""``drfc config set``: the right file, nothing else changed, validated first, written atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from drfc.config.model import MASK

Run = Callable[..., Result]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def changed_lines(before: bytes, after: bytes) -> list[tuple[str, str]]:
    old, new = before.decode().splitlines(keepends=True), after.decode().splitlines(keepends=True)
    assert len(old) == len(new), "lines were added or removed"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_run_key_changes_exactly_one_line_of_run_env(drfc_cli: Run, home: Path) -> None:
    before = snapshot(home)
    result = drfc_cli("--dir", str(home), "config", "set", "DR_CAR_NAME=Zoomer")
    assert result.exit_code == 0, result.output
    after = snapshot(home)
    assert set(after) == set(before)  # no new file, no temp file left behind
    assert changed_lines(before["run.env"], after["run.env"]) == [("DR_CAR_NAME=FastCar\n", "DR_CAR_NAME=Zoomer\n")]
    assert {k for k in before if before[k] != after[k]} == {"run.env"}
    assert f"DR_CAR_NAME=Zoomer in {home.resolve() / 'run.env'}" in result.stderr
    assert drfc_cli("--dir", str(home), "config", "get", "car_name").stdout == "Zoomer\n"


def test_system_key_goes_to_system_env(drfc_cli: Run, home: Path) -> None:
    before = snapshot(home)
    assert drfc_cli("--dir", str(home), "config", "set", "workers=3").exit_code == 0
    after = snapshot(home)
    assert changed_lines(before["system.env"], after["system.env"]) == [("DR_WORKERS=1\n", "DR_WORKERS=3\n")]
    assert before["run.env"] == after["run.env"]


def test_key_defined_in_run_env_is_changed_there(drfc_cli: Run, home: Path) -> None:
    with (home / "run.env").open("a") as fh:
        fh.write("DR_WORKERS=2\n")
    system = (home / "system.env").read_bytes()
    result = drfc_cli("--dir", str(home), "config", "set", "DR_WORKERS=4", env={"DR_WORKERS": "3"})
    assert result.exit_code == 0, result.output
    assert (home / "run.env").read_text().endswith("DR_WORKERS=4\n")
    assert (home / "system.env").read_bytes() == system
    assert "also set by the environment variable DR_WORKERS" in result.stderr


def test_crlf_file_keeps_its_line_endings(drfc_cli: Run, home: Path) -> None:
    run = home / "run.env"
    run.write_bytes(run.read_bytes().replace(b"\n", b"\r\n"))
    before = run.read_bytes()
    assert drfc_cli("--dir", str(home), "config", "set", "DR_CAR_NAME=Crlf").exit_code == 0
    after = run.read_bytes()
    assert after.count(b"\r\n") == after.count(b"\n") == before.count(b"\n")
    assert changed_lines(before, after) == [("DR_CAR_NAME=FastCar\r\n", "DR_CAR_NAME=Crlf\r\n")]


def test_commented_template_key_is_inserted_under_its_comment(drfc_cli: Run, home: Path) -> None:
    old = (home / "run.env").read_text().splitlines()
    commented = next(i for i, line in enumerate(old) if line.startswith("# DR_TRAIN_RTF="))
    assert drfc_cli("--dir", str(home), "config", "set", "DR_TRAIN_RTF=1.25").exit_code == 0
    new = (home / "run.env").read_text().splitlines()
    assert new == [*old[: commented + 1], "DR_TRAIN_RTF=1.25", *old[commented + 1 :]]
    result = drfc_cli("--dir", str(home), "config", "get", "DR_TRAIN_RTF", "--json")
    assert json.loads(result.stdout) == {"DR_TRAIN_RTF": 1.25}


def test_several_values_in_two_files_at_once(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli(
        "--dir",
        str(home),
        "config",
        "set",
        "DR_CAR_NAME=Two Words",
        "DR_GUI_ENABLE=true",
        "oa_object_positions=0.2,-1;0.6,1",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(drfc_cli("--dir", str(home), "config", "show", "--json").stdout)
    assert data["DR_CAR_NAME"] == "Two Words"
    assert data["DR_DISPLAY_NAME"] == "Two Words"  # still follows $DR_CAR_NAME
    assert data["DR_GUI_ENABLE"] is True
    assert data["DR_OA_OBJECT_POSITIONS"] == "0.2,-1;0.6,1"


@pytest.mark.parametrize(
    ("assignment", "shown"),
    [
        ("DR_WORKERS=0", "DR_WORKERS='0'"),
        ("DR_CAR_COLOR=Gold", "DR_CAR_COLOR='Gold'"),
        ("DR_CLOUD=remote", "DR_CLOUD='remote'"),
    ],
)
def test_invalid_value_writes_nothing(drfc_cli: Run, home: Path, assignment: str, shown: str) -> None:
    before = snapshot(home)
    result = drfc_cli("--dir", str(home), "config", "set", "DR_CAR_NAME=Fine", assignment)
    assert result.exit_code == 3
    assert "error: nothing was written" in result.stderr
    assert shown in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(home) == before


def test_an_evaluation_only_race_type_can_be_set(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli(
        "--dir", str(home), "config", "set", "DR_RACE_TYPE=HEAD_TO_MODEL", "DR_EVAL_OPP_S3_MODEL_PREFIX=rival"
    )
    assert result.exit_code == 0, result.output
    assert drfc_cli("--dir", str(home), "config", "validate", "--for", "evaluation").exit_code == 0
    assert drfc_cli("--dir", str(home), "config", "validate", "--for", "training").exit_code == 3


def test_unknown_and_computed_keys_are_refused(drfc_cli: Run, home: Path) -> None:
    before = snapshot(home)
    unknown = drfc_cli("--dir", str(home), "config", "set", "DR_WORLDNAME=x")
    assert unknown.exit_code == 3 and "did you mean DR_WORLD_NAME?" in unknown.stderr
    computed = drfc_cli("--dir", str(home), "config", "set", "DR_MINIO_URL=http://x:9000")
    assert computed.exit_code == 3 and "computed" in computed.stderr
    assert snapshot(home) == before


def test_secret_is_masked_in_the_output(drfc_cli: Run, home: Path) -> None:
    password = "correct-horse-battery"
    result = drfc_cli("--dir", str(home), "config", "set", f"DR_DROA_PASSWORD={password}")
    assert result.exit_code == 0
    assert password not in result.output
    assert f"DR_DROA_PASSWORD={MASK}" in result.stderr
    assert f"DR_DROA_PASSWORD={password}\n" in (home / "system.env").read_text()
    as_json = drfc_cli("--dir", str(home), "config", "set", f"DR_DROA_PASSWORD={password}2", "--json")
    assert password not in as_json.output
    assert json.loads(as_json.stdout) == {
        "changed": [
            {
                "key": "DR_DROA_PASSWORD",
                "value": MASK,
                "file": str(home.resolve() / "system.env"),
                "overridden_by": None,
            }
        ]
    }


def test_experiment_run_env_is_the_file_edited(drfc_cli: Run, home: Path) -> None:
    assert drfc_cli("--dir", str(home), "-e", "exp1", "init", "--cpu").exit_code == 0
    top = (home / "run.env").read_bytes()
    assert drfc_cli("--dir", str(home), "-e", "exp1", "config", "set", "DR_CAR_NAME=ExpCar").exit_code == 0
    assert "DR_CAR_NAME=ExpCar\n" in (home / "experiments" / "exp1" / "run.env").read_text()
    assert (home / "run.env").read_bytes() == top


def test_file_option_chooses_the_file(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "config", "set", "--file", "run", "DR_WORKERS=2")
    assert result.exit_code == 0
    assert (home / "run.env").read_text().endswith("DR_WORKERS=2\n")
    assert "DR_WORKERS=1\n" in (home / "system.env").read_text()
