"""Env-file lexing and ``$VAR`` expansion (drfc/config/envfile.py), alone and through the loader.

DRfC evaluates its env files with ``eval``; drfc must read the same files
without executing anything and without DRfC's parsing bugs (§2.2 and §8.5 of the
behaviour reference): values with ``=``, ``;``, ``#`` or quoted spaces survive,
inline comments are comments, and a broken line is reported with its number.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from drfc.config.envfile import chain_lookup, expand, parse_env_file, parse_env_text, references
from drfc.config.load import Inspection, LoadOptions, inspect_config
from tests.support.config_home import write_home

ENV = Path("test.env")


def parse_one(line: str) -> tuple[str, str, bool]:
    parsed = parse_env_text(line + "\n", ENV)
    assert parsed.problems == (), [p.render() for p in parsed.problems]
    assert len(parsed.entries) == 1
    entry = parsed.entries[0]
    return entry.key, entry.raw, entry.literal


def load(
    tmp_path: Path,
    system: str = "",
    run: str = "",
    environ: Mapping[str, str] | None = None,
) -> Inspection:
    home = write_home(tmp_path / "home", system, run)
    return inspect_config(LoadOptions(home=home), environ=dict(environ or {}))


# --- lexing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("A=plain", "A", "plain"),
        ('A="double quoted"', "A", "double quoted"),
        ("A=a=b=c", "A", "a=b=c"),  # DRfC truncates at the second '='
        ("A=0.23,-1;0.46,1", "A", "0.23,-1;0.46,1"),  # DRfC would run what follows ';'
        ('A="0.23,-1;0.46,1"', "A", "0.23,-1;0.46,1"),
        ("A=colour#1", "A", "colour#1"),  # '#' without a space before it is data
        ("A=value # an inline comment", "A", "value"),
        ('A="kept # inside quotes"', "A", "kept # inside quotes"),
        ("A='single quoted words'", "A", "single quoted words"),
        ("export A=exported", "A", "exported"),
        ("A=", "A", ""),
        ('A=""', "A", ""),
        ("   A=indented", "A", "indented"),
        ("A=trailing   ", "A", "trailing"),
    ],
)
def test_value_forms(line: str, key: str, value: str) -> None:
    assert parse_one(line)[:2] == (key, value)


def test_only_single_quotes_mark_a_value_literal() -> None:
    assert parse_one("A='$B'")[2] is True
    assert parse_one('A="$B"')[2] is False
    assert parse_one("A=$B")[2] is False
    assert parse_one("export A='$B'")[2] is True


def test_blank_lines_and_comments_are_skipped_and_line_numbers_stay_exact() -> None:
    text = "# heading\n\nA=1\n   \n# B=commented out\n#C=also commented\nD=4\n"
    parsed = parse_env_text(text, ENV)
    assert parsed.problems == ()
    assert [(e.key, e.raw, e.line) for e in parsed.entries] == [("A", "1", 3), ("D", "4", 7)]


def test_crlf_line_endings_leave_no_carriage_returns(tmp_path: Path) -> None:
    path = tmp_path / "crlf.env"
    path.write_bytes(b'A=one\r\n# comment\r\nB="two words"\r\nC=three\r\n')
    parsed = parse_env_file(path)
    assert parsed.problems == ()
    assert [(e.key, e.raw, e.line) for e in parsed.entries] == [
        ("A", "one", 1),
        ("B", "two words", 3),
        ("C", "three", 4),
    ]


def test_utf8_byte_order_mark_is_not_part_of_the_first_key(tmp_path: Path) -> None:
    path = tmp_path / "bom.env"
    path.write_bytes("A=first\nB=ünïcode\n".encode("utf-8-sig"))
    parsed = parse_env_file(path)
    assert parsed.problems == ()
    assert parsed.keys() == ["A", "B"]
    assert parsed.entries[1].raw == "ünïcode"


def test_bom_and_crlf_together(tmp_path: Path) -> None:
    path = tmp_path / "both.env"
    path.write_bytes("A=1\r\nB=2\r\n".encode("utf-8-sig"))
    parsed = parse_env_file(path)
    assert [(e.key, e.raw) for e in parsed.entries] == [("A", "1"), ("B", "2")]


@pytest.mark.parametrize(
    ("bad_line", "key"),
    [
        ("this is not an assignment", None),
        ('B="never closed', None),
        ("JUSTAKEY", "JUSTAKEY"),
    ],
)
def test_malformed_line_is_a_problem_with_its_line_number(bad_line: str, key: str | None) -> None:
    text = f"A=1\n# comment\n\n  \n{bad_line}\nC=3\n"  # blank lines right before it
    parsed = parse_env_text(text, ENV)
    assert len(parsed.problems) == 1
    problem = parsed.problems[0]
    assert problem.is_error
    assert (problem.file, problem.line, problem.key) == (ENV, 5, key)
    assert problem.valid and "KEY=value" in problem.valid
    assert problem.render().startswith("test.env:5: ")
    # the good lines around it are still read
    assert [e.key for e in parsed.entries] == ["A", "C"]


def test_file_that_is_not_utf8_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.env"
    path.write_bytes("A=caf\xe9\n".encode("latin-1"))
    parsed = parse_env_file(path)
    assert parsed.entries == ()
    assert len(parsed.problems) == 1
    assert "UTF-8" in parsed.problems[0].message
    assert parsed.problems[0].file == path


# --- expansion --------------------------------------------------------------------------------------

LOOKUP = chain_lookup({"A": "alpha", "EMPTY": ""}, {"B": "beta", "A": "shadowed"})


@pytest.mark.parametrize(
    ("raw", "expanded"),
    [
        ("$A", "alpha"),
        ("${A}", "alpha"),
        ("$A/$B", "alpha/beta"),  # the first mapping that has a name wins
        ("${A}_suffix", "alpha_suffix"),
        ("$A_suffix", ""),  # a bare name runs to the end of the identifier, as in a shell
        ("${MISSING}", ""),
        ("x${MISSING}y", "xy"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${A:-fallback}", "alpha"),
        ("${MISSING:-}", ""),
        ("no references", "no references"),
        ("cost: 5$", "cost: 5$"),
    ],
)
def test_expand(raw: str, expanded: str) -> None:
    assert expand(raw, LOOKUP) == expanded


def test_references_in_order() -> None:
    assert references("$A-${B}-${C:-x}") == ["A", "B", "C"]


def test_expansion_from_earlier_lines(tmp_path: Path) -> None:
    found = load(
        tmp_path,
        run="DR_CAR_NAME=Speedy\nDR_DISPLAY_NAME=$DR_CAR_NAME\nDR_RACER_NAME=${DR_CAR_NAME}-racer\n",
    )
    assert found.errors == []
    assert found.raw["DR_DISPLAY_NAME"] == "Speedy"
    assert found.raw["DR_RACER_NAME"] == "Speedy-racer"


def test_expansion_from_system_env(tmp_path: Path) -> None:
    found = load(
        tmp_path,
        system="DR_LOCAL_S3_BUCKET=team-bucket\n",
        run="DR_LOCAL_S3_MODEL_PREFIX=${DR_LOCAL_S3_BUCKET}-model\n",
    )
    assert found.errors == []
    assert found.raw["DR_LOCAL_S3_MODEL_PREFIX"] == "team-bucket-model"


def test_expansion_of_dr_dir_is_the_home_even_when_the_environment_says_otherwise(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "scripts").mkdir(parents=True)
    found = load(
        tmp_path,
        system="DR_ROBOMAKER_MOUNT_SCRIPTS_DIR=${DR_DIR}/scripts\n",
        environ={"DR_DIR": str(tmp_path / "elsewhere")},
    )
    assert found.errors == []
    assert found.raw["DR_ROBOMAKER_MOUNT_SCRIPTS_DIR"] == f"{home.resolve()}/scripts"


def test_expansion_from_the_process_environment(tmp_path: Path) -> None:
    found = load(
        tmp_path,
        run='DR_CAR_NAME=$TEAM-car\nDR_DISPLAY_NAME="$TEAM racing"\nDR_RACER_NAME=${NOT_SET:-anonymous}\n',
        environ={"TEAM": "blue"},
    )
    assert found.errors == []
    assert found.raw["DR_CAR_NAME"] == "blue-car"
    assert found.raw["DR_DISPLAY_NAME"] == "blue racing"
    assert found.raw["DR_RACER_NAME"] == "anonymous"


def test_single_quoted_value_is_not_expanded(tmp_path: Path) -> None:
    found = load(tmp_path, run="DR_CAR_NAME=Speedy\nDR_DISPLAY_NAME='$DR_CAR_NAME'\n", environ={"TEAM": "x"})
    assert found.raw["DR_DISPLAY_NAME"] == "$DR_CAR_NAME"


def test_forward_reference_expands_empty_and_warns(tmp_path: Path) -> None:
    found = load(tmp_path, run="DR_RUN_ID=0\nDR_DISPLAY_NAME=$DR_CAR_NAME\nDR_CAR_NAME=Later\n")
    assert found.raw["DR_DISPLAY_NAME"] == ""
    assert found.errors == []
    forward = [w for w in found.warnings if w.key == "DR_DISPLAY_NAME"]
    assert len(forward) == 1
    warning = forward[0]
    assert warning.line == 2
    assert "$DR_CAR_NAME" in warning.message
    assert "line 3" in warning.message


def test_forward_reference_that_the_environment_provides_does_not_warn(tmp_path: Path) -> None:
    found = load(
        tmp_path,
        run="DR_DISPLAY_NAME=$DR_CAR_NAME\nDR_CAR_NAME=Later\n",
        environ={"DR_CAR_NAME": "FromEnv"},
    )
    assert not [w for w in found.warnings if w.key == "DR_DISPLAY_NAME"]
    assert found.raw["DR_DISPLAY_NAME"] == "FromEnv"


def test_reference_to_a_system_value_redefined_later_in_run_env_does_not_warn(tmp_path: Path) -> None:
    found = load(
        tmp_path,
        system="DR_CAR_NAME=SystemCar\n",
        run="DR_DISPLAY_NAME=$DR_CAR_NAME\nDR_CAR_NAME=RunCar\n",
    )
    assert not [w for w in found.warnings if w.key == "DR_DISPLAY_NAME"]
    assert found.raw["DR_DISPLAY_NAME"] == "SystemCar"
    assert found.raw["DR_CAR_NAME"] == "RunCar"


def test_values_dr_fc_would_have_executed_are_plain_data(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    found = load(tmp_path, run=f"DR_CAR_NAME=car;touch {marker}\nDR_DISPLAY_NAME=$(touch {marker})\n")
    assert not marker.exists()
    assert found.raw["DR_CAR_NAME"] == f"car;touch {marker}"
    assert found.raw["DR_DISPLAY_NAME"] == f"$(touch {marker})"
