"""`drfc start-evaluation --dry-run`, `stop-evaluation` and `evaluation report` via CliRunner, no engine, no S3."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from tests.functional.conftest import Run

NO_ENGINE = {"DOCKER_HOST": "tcp://127.0.0.1:1"}


def dry_run(drfc_cli: Run, home: Path, *args: str) -> dict:
    result = drfc_cli("--dir", str(home), *args, env=NO_ENGINE)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_dry_run_plan_and_yaml(drfc_cli: Run, home: Path) -> None:
    doc = dry_run(drfc_cli, home, "--set", "DR_RUN_ID=4", "start-evaluation", "--dry-run", "--json")
    assert doc["kind"] == "evaluation" and doc["run_id"] == 4
    (container,) = doc["containers"]
    assert container["name"] == "drfc-4-eval-robomaker" and container["ports"] == {"8080": 8184}
    assert container["command"] == "/opt/ml/code/run.sh run evaluation.launch.py"
    assert container["labels"]["drfc.kind"] == "evaluation" and container["environment"]["ROLLOUT_IDX"] == "0"
    assert container["environment"]["AWS_SECRET_ACCESS_KEY"] == "********"
    stamp = doc["evaluation"]["stamp"]
    assert re.fullmatch(r"\d{14}", stamp) and doc["evaluation"]["clone"] is False
    params = yaml.safe_load(doc["files"]["rl-deepracer-sagemaker/evaluation_params.yaml"])
    assert params["JOB_TYPE"] == "EVALUATION" and params["EVAL_CHECKPOINT"] == "last"
    assert params["METRICS_S3_OBJECT_KEY"] == [f"rl-deepracer-sagemaker/metrics/evaluation/evaluation-{stamp}.json"]
    record = doc["files"][f"rl-deepracer-sagemaker/evaluation-{stamp}/evaluation_params.yaml"]
    assert record == doc["files"]["rl-deepracer-sagemaker/evaluation_params.yaml"]  # the record is that very file
    assert any("checkpoint" in check for check in doc["checks_not_run"])


def test_dry_run_clone_checkpoint_and_mp4(drfc_cli: Run, home: Path) -> None:
    doc = dry_run(
        drfc_cli, home, "--set", "DR_EVAL_SAVE_MP4=True", "start-evaluation", "-c", "--checkpoint", "best",
        "--dry-run", "--json",
    )  # fmt: skip
    assert doc["evaluation"] | {"stamp": None} == {
        "model_prefix": "rl-deepracer-sagemaker-E",
        "source_prefix": "rl-deepracer-sagemaker",
        "clone": True,
        "checkpoint": "best",
        "stamp": None,
    }
    (name,) = [k for k in doc["files"] if k.endswith("-E/evaluation_params.yaml")]
    params = yaml.safe_load(doc["files"][name])
    assert params["MODEL_S3_PREFIX"] == ["rl-deepracer-sagemaker-E"] and params["EVAL_CHECKPOINT"] == "best"
    assert params["MP4_S3_OBJECT_PREFIX"] == [f"rl-deepracer-sagemaker-E/mp4/evaluation-{doc['evaluation']['stamp']}"]
    assert doc["containers"][0]["labels"]["drfc.model-prefix"] == "rl-deepracer-sagemaker-E"


def test_dry_run_text_shows_the_yaml(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "start-evaluation", "--dry-run", "-c", env=NO_ENGINE)
    assert result.exit_code == 0, result.output
    assert "drfc-0-eval-robomaker" in result.stdout and "8180->8080" in result.stdout
    assert "s3://bucket/rl-deepracer-sagemaker-E/evaluation_params.yaml:" in result.stdout
    assert "'JOB_TYPE': 'EVALUATION'" in result.stdout
    assert "nothing was created" in result.stderr and "would be mirrored" in result.stderr


def test_head_to_model_against_itself_is_refused(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli(
        "--dir", str(home), "--set", "DR_RACE_TYPE=HEAD_TO_MODEL", "start-evaluation", "--dry-run", env=NO_ENGINE
    )
    assert result.exit_code == 3 and "the opponent is the model being evaluated" in result.stderr
    assert "Traceback" not in result.output
    doc = dry_run(
        drfc_cli, home, "--set", "DR_RACE_TYPE=HEAD_TO_MODEL", "--set", "DR_EVAL_OPP_S3_MODEL_PREFIX=rival",
        "start-evaluation", "--dry-run", "--json",
    )  # fmt: skip
    params = yaml.safe_load(next(iter(doc["files"].values())))
    assert params["MODEL_S3_PREFIX"] == ["rl-deepracer-sagemaker", "rival"] and "MODEL_NAME" in params


def test_checkpoint_choice_is_validated(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "start-evaluation", "--checkpoint", "worst", "--dry-run", env=NO_ENGINE)
    assert result.exit_code == 2 and "worst" in result.output


def test_without_an_engine_start_and_stop_fail_cleanly(drfc_cli: Run, home: Path) -> None:
    for args in (("start-evaluation", "--no-follow"), ("stop-evaluation",)):
        result = drfc_cli("--dir", str(home), *args, env=NO_ENGINE)
        assert result.exit_code == 10, (args, result.output)  # DockerUnavailableError
        assert "Docker" in result.stderr and "Traceback" not in result.output


def test_report_needs_the_store(drfc_cli: Run, home: Path) -> None:
    """No MinIO on port 1: the report says which store does not answer and how to start it."""
    system = home / "system.env"
    text = (
        system.read_text().replace("DR_CLOUD=local", "DR_CLOUD=remote") + "\nDR_REMOTE_MINIO_URL=http://127.0.0.1:1\n"
    )
    system.write_text(text)
    result = drfc_cli("--dir", str(home), "evaluation", "report", "--json")
    assert result.exit_code != 0 and "does not answer" in result.stderr
    assert json.loads(result.stdout)["error"]["type"] == "S3EndpointUnreachableError"


def test_report_rejects_a_bad_lifetime(drfc_cli: Run, home: Path) -> None:
    result = drfc_cli("--dir", str(home), "evaluation", "report", "--presign", "--expires", "soon")
    assert result.exit_code == 2 and "soon" in result.output


def test_help_lists_the_commands(drfc_cli: Run) -> None:
    result = drfc_cli("--help")
    for name in ("start-evaluation", "stop-evaluation", "evaluation"):
        assert name in result.stdout
    report = drfc_cli("evaluation", "report", "--help")
    assert "--presign" in report.stdout and "--all" in report.stdout and "--latest" in report.stdout
