"""Editing env files: only the value changes; comments, order, line endings and BOM stay.

Covers drfc/config/edit.py (text edits, atomic writes) and drfc/core/configset.py
(which file a key is written to, validation before writing).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from drfc.config.edit import set_values, write_atomic
from drfc.config.envfile import format_value, parse_env_text
from drfc.config.load import LoadOptions, inspect_config
from drfc.core.configset import apply_settings
from drfc.errors import ConfigError
from tests.support.config_home import write_home

ENV = Path("x.env")


def value_after(text: str, key: str) -> str:
    entries = [e for e in parse_env_text(text, ENV).entries if e.key == key]
    return entries[-1].raw


# --- set_values --------------------------------------------------------------------------------------

TEXT = "# header\nDR_A=1\n\n# about B\nDR_B=old # trailing comment\nexport DR_C=3\n"


def test_only_the_changed_line_differs() -> None:
    new = set_values(TEXT, {"DR_B": "new"})
    before, after = TEXT.split("\n"), new.split("\n")
    assert len(before) == len(after)
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [4]
    assert after[4] == "DR_B=new"


def test_export_prefix_and_indentation_are_kept() -> None:
    assert "export DR_C=9\n" in set_values(TEXT, {"DR_C": "9"})
    assert "  DR_X=2\n" in set_values("  DR_X=1\n", {"DR_X": "2"})


def test_last_definition_is_the_one_changed() -> None:
    new = set_values("DR_A=1\nDR_A=2\n", {"DR_A": "3"})
    assert new == "DR_A=1\nDR_A=3\n"


def test_crlf_and_bom_are_kept() -> None:
    text = "\ufeffDR_A=1\r\n# c\r\nDR_B=2\r\n"
    new = set_values(text, {"DR_B": "5", "DR_NEW": "x"})
    assert new.startswith("\ufeffDR_A=1\r\n")
    assert new.count("\r\n") == new.count("\n")
    assert "DR_B=5\r\n" in new and "DR_NEW=x\r\n" in new


def test_commented_template_key_gets_its_value_right_below_the_comment() -> None:
    text = "DR_A=1\n# Real-time factor.\n# DR_TRAIN_RTF=1.0\nDR_B=2\n"
    new = set_values(text, {"DR_TRAIN_RTF": "1.5"})
    assert new == "DR_A=1\n# Real-time factor.\n# DR_TRAIN_RTF=1.0\nDR_TRAIN_RTF=1.5\nDR_B=2\n"


@pytest.mark.parametrize(("text", "expected"), [("DR_A=1\n", "DR_A=1\nDR_Z=9\n"), ("DR_A=1", "DR_A=1\nDR_Z=9")])
def test_new_key_is_appended(text: str, expected: str) -> None:
    assert set_values(text, {"DR_Z": "9"}) == expected


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "",
        "two words",
        "a=b=c",
        "0.23,-1;0.46,1",
        "colour#1",
        "hash # not a comment",
        "it's",
        'say "hi"',
        "both ' and \"",
        "back\\slash",
        "trailing space ",
        "ünïcode",
    ],
)
def test_written_values_read_back_unchanged(value: str) -> None:
    text = set_values("# c\nDR_A=old\n", {"DR_A": value})
    assert value_after(text, "DR_A") == value
    assert parse_env_text(text, ENV).problems == ()
    assert text.startswith("# c\n")


@pytest.mark.parametrize("value", ["two words", "colour#1", "a;b"])
def test_values_a_shell_would_split_are_quoted(value: str) -> None:
    assert format_value(value)[0] in "'\""


# --- write_atomic ------------------------------------------------------------------------------------


def test_write_atomic_replaces_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "run.env"
    path.write_text("old\n")
    path.chmod(0o640)
    write_atomic(path, "new\r\n")
    assert path.read_bytes() == b"new\r\n"  # no newline translation
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.env"]


def test_write_atomic_failure_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.env"
    path.write_text("precious\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_atomic(path, "new\n")
    assert path.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.env"]


# --- apply_settings ----------------------------------------------------------------------------------


def make_home(tmp_path: Path, system: str, run: str) -> Path:
    return write_home(tmp_path / "home", system, run)


def test_key_is_written_to_the_file_that_defines_it(tmp_path: Path) -> None:
    # DR_WORKERS belongs in system.env, but this run.env defines it, so that is where it takes effect.
    home = make_home(tmp_path, "DR_WORKERS=1\n", "DR_WORKERS=2\n")
    changes = apply_settings(LoadOptions(home=home), {"DR_WORKERS": "3"}, environ={})
    assert [c.file for c in changes] == [home.resolve() / "run.env"]
    assert (home / "run.env").read_text() == "DR_WORKERS=3\n"
    assert (home / "system.env").read_text() == "DR_WORKERS=1\n"


def test_environment_override_does_not_redirect_the_write(tmp_path: Path) -> None:
    home = make_home(tmp_path, "DR_CLOUD=local\n", "DR_WORKERS=2\n")
    changes = apply_settings(LoadOptions(home=home), {"DR_WORKERS": "4"}, environ={"DR_WORKERS": "3"})
    assert [c.file for c in changes] == [home.resolve() / "run.env"]
    assert changes[0].overridden_by == "the environment variable DR_WORKERS"
    assert (home / "run.env").read_text() == "DR_WORKERS=4\n"
    assert "DR_WORKERS" not in (home / "system.env").read_text()


def test_undefined_key_goes_to_its_schema_file(tmp_path: Path) -> None:
    home = make_home(tmp_path, "DR_CLOUD=local\n", "DR_RUN_ID=0\n")
    changes = apply_settings(LoadOptions(home=home), {"DR_WORKERS": "2", "DR_CAR_NAME": "Zoom"}, environ={})
    assert {c.key: c.file.name for c in changes} == {"DR_WORKERS": "system.env", "DR_CAR_NAME": "run.env"}


def test_crlf_file_stays_crlf(tmp_path: Path) -> None:
    home = make_home(tmp_path, "DR_CLOUD=local\r\n", "\ufeff# run\r\nDR_CAR_NAME=a\r\nDR_RUN_ID=0\r\n")
    apply_settings(LoadOptions(home=home), {"DR_CAR_NAME": "b"}, environ={})
    assert (home / "run.env").read_bytes() == "\ufeff# run\r\nDR_CAR_NAME=b\r\nDR_RUN_ID=0\r\n".encode()


def test_invalid_value_writes_nothing(tmp_path: Path) -> None:
    home = make_home(tmp_path, "DR_WORKERS=1\n", "DR_RUN_ID=0\n")
    with pytest.raises(ConfigError) as caught:
        apply_settings(LoadOptions(home=home), {"DR_CAR_NAME": "ok", "DR_WORKERS": "zero"}, environ={})
    assert caught.value.exit_code == 3
    assert any("DR_WORKERS='zero'" in p for p in caught.value.problems)
    assert (home / "system.env").read_text() == "DR_WORKERS=1\n"
    assert (home / "run.env").read_text() == "DR_RUN_ID=0\n"
    assert sorted(p.name for p in home.iterdir()) == ["run.env", "system.env"]


def test_existing_unrelated_problem_does_not_block_an_edit(tmp_path: Path) -> None:
    home = make_home(tmp_path, "DR_WORKERS=1\n", "DR_CAR_COLOR=Pink\n")
    apply_settings(LoadOptions(home=home), {"DR_CAR_NAME": "Zoom"}, environ={})
    assert inspect_config(LoadOptions(home=home), environ={}).raw["DR_CAR_NAME"] == "Zoom"


@pytest.mark.parametrize(("key", "words"), [("DR_WORKRS", "did you mean DR_WORKERS?"), ("DR_MINIO_URL", "computed")])
def test_unknown_or_computed_key_is_refused(tmp_path: Path, key: str, words: str) -> None:
    home = make_home(tmp_path, "DR_WORKERS=1\n", "DR_RUN_ID=0\n")
    with pytest.raises(ConfigError) as caught:
        apply_settings(LoadOptions(home=home), {key: "2"}, environ={})
    assert words in f"{caught.value.message} {caught.value.hint}"
    assert (home / "system.env").read_text() == "DR_WORKERS=1\n"


def test_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    home = make_home(tmp_path, "DR_WORKERS=1\n", "DR_RUN_ID=0\n")
    (home / "run.env").write_bytes(b"DR_CAR_NAME=caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        apply_settings(LoadOptions(home=home), {"DR_CAR_NAME": "x"}, environ={})
