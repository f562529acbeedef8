"""`drfc increment-training` edits the active run file like `config set`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from drfc.cli.main import cli


def drfc(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--dir", str(home), *args], env={"AWS_SHARED_CREDENTIALS_FILE": str(home / "c")})
    return result.exit_code, result.output


def test_increment_moves_the_model_to_pretrained(tmp_path: Path) -> None:
    assert drfc(tmp_path, "init", "--cpu")[0] == 0
    before = (tmp_path / "run.env").read_text()
    code, output = drfc(tmp_path, "increment-training", "-f")
    assert code == 0, output
    for key, value in {
        "DR_LOCAL_S3_MODEL_PREFIX": "rl-deepracer-sagemaker-1",
        "DR_LOCAL_S3_PRETRAINED_PREFIX": "rl-deepracer-sagemaker",
        "DR_LOCAL_S3_PRETRAINED": "True",
    }.items():
        assert drfc(tmp_path, "config", "get", key)[1].strip() == value
    after = (tmp_path / "run.env").read_text()
    assert len(after.splitlines()) == len(before.splitlines())  # values replaced in place, comments kept
    assert drfc(tmp_path, "increment-training", "-f")[0] == 0
    assert drfc(tmp_path, "config", "get", "DR_LOCAL_S3_MODEL_PREFIX")[1].strip() == "rl-deepracer-sagemaker-2"
    assert drfc(tmp_path, "config", "get", "DR_LOCAL_S3_PRETRAINED_PREFIX")[1].strip() == "rl-deepracer-sagemaker-1"


def test_explicit_prefix_and_refusals(tmp_path: Path) -> None:
    assert drfc(tmp_path, "init", "--cpu")[0] == 0
    assert drfc(tmp_path, "increment-training", "-f", "-p", "Fast-Model")[0] == 0
    assert drfc(tmp_path, "config", "get", "DR_LOCAL_S3_MODEL_PREFIX")[1].strip() == "Fast-Model"
    code, output = drfc(tmp_path, "increment-training", "-f", "-p", "bad prefix/")
    assert code == 3 and "DR_LOCAL_S3_MODEL_PREFIX" in output
    code, _ = drfc(tmp_path, "increment-training")  # no terminal to confirm on: nothing changes
    assert code == 7
    assert drfc(tmp_path, "config", "get", "DR_LOCAL_S3_MODEL_PREFIX")[1].strip() == "Fast-Model"
