"""The plan of a training run, from configuration alone, against the references.

The trainer is checked against ``simapp-contract.md`` §1.3–§1.4 (what SageMaker local mode gives the
algo container), the Robomaker workers against ``drfc-behaviour.md`` §3.2–§3.4 (every variable and
overlay of DRfC's training compose files) and the YAML files against §4.1 without the bugs of §8.22.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from drfc.config.load import LoadOptions, load_config
from drfc.config.model import Config
from drfc.core.containers import ContainerSpec
from drfc.core.plan import Credentials, RunPlan
from drfc.core.training_plan import plan_training
from drfc.errors import ConfigError

KEYS = Credentials("AKIAEXAMPLE", "secret-key-example")
USER_HYPERPARAMETERS = {"batch_size": 64, "loss_type": "huber", "lr": 0.0003, "e_greedy_value": 0.05}


def config(
    tmp_path: Path, settings: Mapping[str, str] | None = None, workers: Mapping[int, str] | None = None
) -> Config:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "system.env").write_text("", encoding="utf-8")
    (home / "run.env").write_text("", encoding="utf-8")
    for index, text in (workers or {}).items():
        (home / f"worker-{index}.env").write_text(text, encoding="utf-8")
    options = LoadOptions(home=home, overrides=dict(settings or {}), purpose="training")
    return load_config(options, environ={})


def plan(
    tmp_path: Path,
    settings: Mapping[str, str] | None = None,
    *,
    workers: Mapping[int, str] | None = None,
    host_env: Mapping[str, str] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    credentials: Credentials | None = KEYS,
) -> RunPlan:
    cfg = config(tmp_path, settings, workers)
    hyper = USER_HYPERPARAMETERS if hyperparameters is None else hyperparameters
    return plan_training(cfg, hyperparameters=hyper, credentials=credentials, host_env=host_env or {})


def config_file(spec: ContainerSpec, name: str) -> Any:
    (copy,) = spec.files
    assert copy.directory == "/"  # the image has no /opt/ml/input: copied with full paths from /
    return json.loads(copy.files[f"opt/ml/input/config/{name}"])


def yaml_file(p: RunPlan, name: str) -> dict[str, Any]:
    text = p.s3_files[name]
    assert text.startswith("---\n") and "!!" not in text  # DRfC's style, without its type tags
    data = yaml.safe_load(text)
    assert all(isinstance(v, (str, list)) for v in data.values()), "every scalar is a string"
    return dict(data)


# --------------------------------------------------------------------------------------------- trainer
def test_trainer_is_the_algo_container_sagemaker_would_start(tmp_path: Path) -> None:
    p = plan(tmp_path, {"DR_RUN_ID": "3", "DR_LOCAL_S3_MODEL_PREFIX": "my-model", "DR_AWS_APP_REGION": "eu-west-1"})
    t = p.trainer
    assert p.containers[0] is t and [c.role for c in p.containers] == ["trainer", "robomaker"]
    assert t.image == "awsdeepracercommunity/deepracer-simapp:6.0.4-cpu"
    assert t.command == ("train",)  # with the image's `bash -c` entry point, `train` becomes PID 1
    assert re.fullmatch(r"algo-1-[a-z0-9]{5}", t.hostname or "")
    assert t.aliases == (t.hostname,) and t.network == "sagemaker-local"
    assert re.fullmatch(r"(.*)-(algo-(.)-(.*))", t.name)  # what DRfC's dr-find-sagemaker matches
    assert dict(t.environment) == {
        "SAGEMAKER_PROGRAM": "sage-train.sh",
        "AWS_REGION": "eu-west-1",
        "TRAINING_JOB_NAME": "my-model",
        "RUN_ID": "3",
        "S3_ENDPOINT_URL": "http://minio:9000",  # both names: the simapp reads one, newer SDKs set the other
        "AWS_ENDPOINT_URL_S3": "http://minio:9000",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret-key-example",
    }
    assert t.ports == () and t.mounts == () and not t.gpu and t.device_ids == ()
    assert t.log_driver is None


def test_trainer_config_files_hold_string_hyperparameters(tmp_path: Path) -> None:
    p = plan(tmp_path, {"DR_LOCAL_S3_MODEL_PREFIX": "m1", "DR_LOCAL_S3_BUCKET": "bkt"})
    t = p.trainer
    hyper = config_file(t, "hyperparameters.json")
    assert hyper == {
        "s3_bucket": "bkt",
        "s3_prefix": "m1",
        "aws_region": "us-east-1",
        "model_metadata_s3_key": "s3://bkt/custom_files/model_metadata.json",
        "batch_size": "64",  # str(), as SageMaker local mode writes every value
        "loss_type": "huber",
        "lr": "0.0003",
        "e_greedy_value": "0.05",
    }
    assert config_file(t, "resourceconfig.json") == {
        "current_host": t.hostname,
        "hosts": [t.hostname],
        "network_interface_name": "eth0",
        "current_instance_type": "local",
    }
    assert config_file(t, "inputdataconfig.json") == {}


def test_user_hyperparameters_win_over_the_core_ones(tmp_path: Path) -> None:
    hyper = config_file(plan(tmp_path, hyperparameters={"s3_prefix": "elsewhere"}).trainer, "hyperparameters.json")
    assert hyper["s3_prefix"] == "elsewhere"  # start.py merges the user's dict over the core one


@pytest.mark.parametrize("checkpoint", ["last", "best"])
def test_pretrained_settings_reach_the_trainer(tmp_path: Path, checkpoint: str) -> None:
    on = {
        "DR_LOCAL_S3_PRETRAINED": "True",
        "DR_LOCAL_S3_PRETRAINED_PREFIX": "older-model",
        "DR_LOCAL_S3_PRETRAINED_CHECKPOINT": checkpoint,
        "DR_LOCAL_S3_BUCKET": "bkt",
    }
    hyper = config_file(plan(tmp_path, on).trainer, "hyperparameters.json")
    assert {k: v for k, v in hyper.items() if k.startswith("pretrained")} == {
        "pretrained_s3_bucket": "bkt",
        "pretrained_s3_prefix": "older-model",
        "pretrained_checkpoint": checkpoint,
    }
    off = config_file(plan(tmp_path, {**on, "DR_LOCAL_S3_PRETRAINED": "False"}).trainer, "hyperparameters.json")
    assert not any(k.startswith("pretrained") for k in off)


def test_optional_trainer_variables_only_when_set(tmp_path: Path) -> None:
    p = plan(
        tmp_path,
        {"DR_TRAIN_MAX_STEPS_PER_ITERATION": "2000", "DR_TELEGRAF_HOST": "telegraf", "DR_TELEGRAF_PORT": "8092"},
    )
    for spec in p.containers:  # Telegraf goes to every container, MAX_MEMORY_STEPS to the trainer only
        assert spec.environment["TELEGRAF_HOST"] == "telegraf" and spec.environment["TELEGRAF_PORT"] == "8092"
    assert p.trainer.environment["MAX_MEMORY_STEPS"] == "2000"
    assert "MAX_MEMORY_STEPS" not in p.workers[0].environment
    plain = plan(tmp_path)
    for spec in plain.containers:
        assert not {"MAX_MEMORY_STEPS", "TELEGRAF_HOST", "TELEGRAF_PORT", "CUDA_VISIBLE_DEVICES"} & set(
            spec.environment
        )


# --------------------------------------------------------------------------------------------- endpoint, keys
def test_aws_cloud_has_no_endpoint_and_retries_instance_metadata(tmp_path: Path) -> None:
    p = plan(tmp_path, {"DR_CLOUD": "aws"}, credentials=None)
    for spec in p.containers:
        env = spec.environment
        assert "S3_ENDPOINT_URL" not in env and "AWS_ENDPOINT_URL_S3" not in env
        assert env["AWS_METADATA_SERVICE_TIMEOUT"] == "3" and env["AWS_METADATA_SERVICE_NUM_ATTEMPTS"] == "5"
        assert "AWS_ACCESS_KEY_ID" not in env  # instance roles: no keys handed over
    assert "S3_ENDPOINT_URL" not in yaml_file(p, "training_params.yaml")


def test_remote_minio_endpoint_reaches_every_container_and_the_yaml(tmp_path: Path) -> None:
    url = "http://storage.example:9000"
    p = plan(tmp_path, {"DR_CLOUD": "remote", "DR_REMOTE_MINIO_URL": url})
    assert all(spec.environment["S3_ENDPOINT_URL"] == url for spec in p.containers)
    assert p.trainer.environment["AWS_ENDPOINT_URL_S3"] == url
    assert yaml_file(p, "training_params.yaml")["S3_ENDPOINT_URL"] == url


def test_session_token_is_passed_on(tmp_path: Path) -> None:
    p = plan(tmp_path, credentials=Credentials("AKIA", "secret", "token-1"))
    assert all(spec.environment["AWS_SESSION_TOKEN"] == "token-1" for spec in p.containers)


# --------------------------------------------------------------------------------------------- Robomaker workers
def test_worker_has_every_variable_of_drfc_training_compose(tmp_path: Path) -> None:
    settings = {
        "DR_WORLD_NAME": "2022_april_open",
        "DR_LOCAL_S3_MODEL_PREFIX": "m2",
        "DR_LOCAL_S3_BUCKET": "bkt",
        "DR_AWS_APP_REGION": "eu-west-1",
        "DR_KINESIS_STREAM_NAME": "kvs-1",
        "DR_CAMERA_KVS_ENABLE": "False",
        "DR_TRAIN_RTF": "2.5",
        "DR_GAZEBO_ARGS": "--verbose",
        "DR_GAZEBO_RENDER_ENGINE": "ogre",
    }
    (w,) = plan(tmp_path, settings).workers
    assert w.command == ("/opt/ml/code/run.sh run distributed_training.launch.py",)  # one string for `bash -c`
    assert (
        w.init is True
        and w.network == "sagemaker-local"
        and w.image == "awsdeepracercommunity/deepracer-simapp:6.0.4-cpu"
    )
    env = dict(w.environment)
    assert env == {
        "WORLD_NAME": "2022_april_open",
        "SAGEMAKER_SHARED_S3_PREFIX": "m2",
        "SAGEMAKER_SHARED_S3_BUCKET": "bkt",
        "APP_REGION": "eu-west-1",
        "S3_YAML_NAME": "training_params.yaml",
        "KINESIS_VIDEO_STREAM_NAME": "kvs-1",
        "ENABLE_KINESIS": "False",
        "ENABLE_GUI": "False",
        "ROS_MASTER_URI": "http://localhost:11311/",
        "ROS_IP": "127.0.0.1",
        "GAZEBO_RENDER_ENGINE": "ogre",
        "GAZEBO_ARGS": "--verbose",
        "RTF_OVERRIDE": "2.5",
        "DOCKER_REPLICA_SLOT": "1",  # the worker index, given explicitly: no election file
        "S3_ENDPOINT_URL": "http://minio:9000",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret-key-example",
    }
    assert w.mounts == () and w.log_driver is None


def test_several_workers_run_in_multi_mode_with_their_own_index_and_ports(tmp_path: Path) -> None:
    p = plan(tmp_path, {"DR_WORKERS": "3", "DR_RUN_ID": "2"})
    assert [w.labels["drfc.worker"] for w in p.workers] == ["1", "2", "3"]
    assert [w.environment["DOCKER_REPLICA_SLOT"] for w in p.workers] == ["1", "2", "3"]
    assert all(w.command == ("/opt/ml/code/run.sh multi distributed_training.launch.py",) for w in p.workers)
    assert [[(m.container, m.host) for m in w.ports] for w in p.workers] == [
        [(8080, 8082)],
        [(8080, 9082)],
        [(8080, 10082)],
    ]
    assert len({w.name for w in p.containers}) == 4
    assert all("MULTI_CONFIG" not in w.environment for w in p.workers)  # one YAML for all: no multi-config
    assert all(w.environment["S3_YAML_NAME"] == "training_params.yaml" for w in p.workers)
    assert set(p.s3_files) == {"training_params.yaml"}
    assert yaml_file(p, "training_params.yaml")["NUM_WORKERS"] == "3"


@pytest.mark.parametrize("run_id", [0, 1, 7])
def test_ports_names_and_labels_follow_the_run_id(tmp_path: Path, run_id: int) -> None:
    p = plan(tmp_path, {"DR_RUN_ID": str(run_id), "DR_WORKERS": "2", "DR_GUI_ENABLE": "True"})
    ports = [{m.container: m.host for m in w.ports} for w in p.workers]
    assert ports == [{8080: 8080 + run_id, 5900: 5900 + run_id}, {8080: 9080 + run_id, 5900: 6900 + run_id}]
    assert all(w.environment["ENABLE_GUI"] == "True" for w in p.workers)
    assert all(c.name.startswith(f"drfc-{run_id}-") for c in p.containers)
    for spec in p.containers:
        worker = "0" if spec.role == "trainer" else spec.name.rsplit("-", 1)[1]
        assert {k: v for k, v in spec.labels.items() if k != "drfc.home"} == {
            "drfc.managed": "true",
            "drfc.kind": "training",
            "drfc.role": spec.role,
            "drfc.run-id": str(run_id),
            "drfc.worker": worker,
            "drfc.model-prefix": "rl-deepracer-sagemaker",
        }
        assert spec.labels["drfc.home"] == str(tmp_path / "home")
    assert p.run_id == run_id and p.model_prefix == "rl-deepracer-sagemaker"


def test_gui_port_only_when_the_gui_is_on(tmp_path: Path) -> None:
    (w,) = plan(tmp_path).workers
    assert [m.container for m in w.ports] == [8080]


def test_trainer_hostname_differs_between_runs_and_models(tmp_path: Path) -> None:
    names = {
        plan(tmp_path, {"DR_RUN_ID": run, "DR_LOCAL_S3_MODEL_PREFIX": model}).trainer.hostname
        for run, model in (("0", "a"), ("1", "a"), ("0", "b"))
    }
    assert len(names) == 3
    assert plan(tmp_path, {"DR_LOCAL_S3_MODEL_PREFIX": "a"}).trainer.hostname in names  # stable per run


# --------------------------------------------------------------------------------------------- race types
@pytest.mark.parametrize("race_type", ["TIME_TRIAL", "OBJECT_AVOIDANCE", "HEAD_TO_BOT"])
def test_yaml_for_every_trainable_race_type(tmp_path: Path, race_type: str) -> None:
    settings = {
        "DR_RACE_TYPE": race_type,
        "DR_WORLD_NAME": "2022_april_open",
        "DR_OA_NUMBER_OF_OBSTACLES": "4",
        "DR_OA_OBSTACLE_TYPE": "deepracer_box_obstacle",
        "DR_H2B_NUMBER_OF_BOT_CARS": "2",
        "DR_H2B_BOT_CAR_PENALTY": "6.0",
        "DR_H2B_BOT_CAR_SPEED": "0.4",
    }
    p = plan(tmp_path, settings)
    data = yaml_file(p, "training_params.yaml")
    assert data["RACE_TYPE"] == race_type and data["WORLD_NAME"] == "2022_april_open"
    assert data["JOB_TYPE"] == "TRAINING" and data["ROBOMAKER_SIMULATION_JOB_ACCOUNT_ID"] == "Dummy"
    assert data["METRICS_S3_OBJECT_KEY"] == "rl-deepracer-sagemaker/metrics/TrainingMetrics.json"
    assert "MULTI_CONFIG" not in data
    oa = {"NUMBER_OF_OBSTACLES", "MIN_DISTANCE_BETWEEN_OBSTACLES", "RANDOMIZE_OBSTACLE_LOCATIONS"}
    oa |= {"IS_OBSTACLE_BOT_CAR", "OBSTACLE_TYPE"}
    h2b = {"IS_LANE_CHANGE", "LOWER_LANE_CHANGE_TIME", "UPPER_LANE_CHANGE_TIME", "LANE_CHANGE_DISTANCE"}
    h2b |= {"NUMBER_OF_BOT_CARS", "MIN_DISTANCE_BETWEEN_BOT_CARS", "RANDOMIZE_BOT_CAR_LOCATIONS", "BOT_CAR_SPEED"}
    h2b |= {"PENALTY_SECONDS"}
    # each block only for its own race type (DRfC left OBSTACLE_TYPE and PENALTY_SECONDS behind, §8.22)
    assert oa & set(data) == (oa if race_type == "OBJECT_AVOIDANCE" else set())
    assert h2b & set(data) == (h2b if race_type == "HEAD_TO_BOT" else set())
    if race_type == "OBJECT_AVOIDANCE":
        assert (data["NUMBER_OF_OBSTACLES"], data["OBSTACLE_TYPE"]) == ("4", "deepracer_box_obstacle")
    if race_type == "HEAD_TO_BOT":
        assert (data["NUMBER_OF_BOT_CARS"], data["PENALTY_SECONDS"], data["BOT_CAR_SPEED"]) == ("2", "6.0", "0.4")
    assert p.workers[0].environment["WORLD_NAME"] == "2022_april_open"


def test_fixed_obstacle_positions_become_a_list_and_set_the_count(tmp_path: Path) -> None:
    settings = {
        "DR_RACE_TYPE": "OBJECT_AVOIDANCE",
        "DR_OA_NUMBER_OF_OBSTACLES": "6",
        "DR_OA_OBJECT_POSITIONS": "0.2,1;0.5,-1",
    }
    data = yaml_file(plan(tmp_path, settings), "training_params.yaml")
    assert data["OBJECT_POSITIONS"] == ["0.2,1", "0.5,-1"] and data["NUMBER_OF_OBSTACLES"] == "2"


def test_head_to_model_cannot_be_trained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        config(tmp_path, {"DR_RACE_TYPE": "HEAD_TO_MODEL"})


# --------------------------------------------------------------------------------------------- multi-config
def test_multi_config_gives_each_worker_its_own_yaml_and_world(tmp_path: Path) -> None:
    workers = {
        2: "DR_WORLD_NAME=2022_march_open\nDR_RACE_TYPE=OBJECT_AVOIDANCE\nDR_CAR_COLOR=Blue\n",
        3: "DR_WORLD_NAME=reInvent2019_track\nDR_RACE_TYPE=HEAD_TO_BOT\nDR_TRAIN_REVERSE_DIRECTION=True\n",
    }
    settings = {"DR_WORKERS": "3", "DR_TRAIN_MULTI_CONFIG": "True", "DR_WORLD_NAME": "reinvent_base"}
    p = plan(tmp_path, settings, workers=workers)
    assert set(p.s3_files) == {
        "training_params.yaml",  # DRfC did not upload it in this mode (§8.22); tools look for it
        "training_params_1.yaml",
        "training_params_2.yaml",
        "training_params_3.yaml",
    }
    files = {name: yaml_file(p, name) for name in p.s3_files}
    assert all(data["MULTI_CONFIG"] == "True" for data in files.values())  # worker 1's too (§8.22)
    assert files["training_params.yaml"] == files["training_params_1.yaml"]
    expected = {
        1: ("reinvent_base", "TIME_TRIAL"),
        2: ("2022_march_open", "OBJECT_AVOIDANCE"),
        3: ("reInvent2019_track", "HEAD_TO_BOT"),
    }
    for index, (world, race) in expected.items():
        data = files[f"training_params_{index}.yaml"]
        assert (data["WORLD_NAME"], data["RACE_TYPE"]) == (world, race)
    assert files["training_params_2.yaml"]["CAR_COLOR"] == "Blue"
    assert files["training_params_3.yaml"]["CAR_COLOR"] == "Red"  # no leak from worker 2 into 3 (§8.22)
    assert (
        files["training_params_3.yaml"]["REVERSE_DIR"] == "True"
        and files["training_params_2.yaml"]["REVERSE_DIR"] == "False"
    )
    assert (
        "OBSTACLE_TYPE" not in files["training_params_3.yaml"]
        and "PENALTY_SECONDS" not in files["training_params_2.yaml"]
    )

    multi = {
        "multi_config": [{"config_file": f"training_params_{i}.yaml", "world_name": expected[i][0]} for i in (1, 2, 3)]
    }
    for w, index in zip(p.workers, (1, 2, 3), strict=True):
        assert json.loads(w.environment["MULTI_CONFIG"]) == multi  # run.sh picks entry ROLLOUT_IDX = index - 1
        assert w.environment["S3_YAML_NAME"] == f"training_params_{index}.yaml"
        assert w.environment["WORLD_NAME"] == expected[index][0]
        assert w.command == ("/opt/ml/code/run.sh multi distributed_training.launch.py",)


def test_multi_config_with_one_worker_is_a_plain_run(tmp_path: Path) -> None:
    p = plan(tmp_path, {"DR_WORKERS": "1", "DR_TRAIN_MULTI_CONFIG": "True"})
    assert set(p.s3_files) == {"training_params.yaml"}
    assert "MULTI_CONFIG" not in p.workers[0].environment
    assert "MULTI_CONFIG" not in yaml_file(p, "training_params.yaml")


# --------------------------------------------------------------------------------------------- GPU
def test_gpu_image_requests_devices_for_the_trainer(tmp_path: Path) -> None:
    p = plan(tmp_path, {"DR_SIMAPP_VERSION": "6.0.4-gpu", "DR_WORKERS": "2"})
    assert p.trainer.gpu is True and p.trainer.device_ids == ()  # all GPUs, as the SDK's count: all
    assert config_file(p.trainer, "resourceconfig.json")["current_instance_type"] == "local_gpu"
    assert all(spec.image.endswith(":6.0.4-gpu") for spec in p.containers)
    assert "CUDA_VISIBLE_DEVICES" not in p.trainer.environment


def test_cuda_device_ids_select_gpus_per_role(tmp_path: Path) -> None:
    settings = {"DR_SIMAPP_VERSION": "6.0.4-gpu", "DR_SAGEMAKER_CUDA_DEVICES": "1", "DR_ROBOMAKER_CUDA_DEVICES": "0,2"}
    p = plan(tmp_path, settings)
    assert p.trainer.device_ids == ("1",) and p.trainer.environment["CUDA_VISIBLE_DEVICES"] == "1"
    (w,) = p.workers
    assert w.device_ids == ("0", "2") and w.environment["CUDA_VISIBLE_DEVICES"] == "0,2"


def test_cpu_image_requests_no_gpu_even_with_device_ids(tmp_path: Path) -> None:
    p = plan(tmp_path, {"DR_SAGEMAKER_CUDA_DEVICES": "1", "DR_ROBOMAKER_CUDA_DEVICES": "0"})
    assert not any(spec.gpu or spec.device_ids for spec in p.containers)
    assert "CUDA_VISIBLE_DEVICES" not in p.trainer.environment
    assert config_file(p.trainer, "resourceconfig.json")["current_instance_type"] == "local"


# --------------------------------------------------------------------------------------------- host X, mounts, logging
def test_host_x_passes_display_and_xauthority(tmp_path: Path) -> None:
    xauth = str(tmp_path / "xauth")
    p = plan(tmp_path, {"DR_HOST_X": "True"}, host_env={"DISPLAY": ":1", "XAUTHORITY": xauth})
    (w,) = p.workers
    env = w.environment
    assert env["DISPLAY"] == ":1" and env["USE_EXTERNAL_X"] == "True" and env["XAUTHORITY"] == "/root/.Xauthority"
    assert env["QT_X11_NO_MITSHM"] == "1" and env["NVIDIA_DRIVER_CAPABILITIES"] == "all"
    mounts = {(m.source, m.target, m.read_only) for m in w.mounts}
    assert mounts == {("/tmp/.X11-unix", "/tmp/.X11-unix", False), (xauth, "/root/.Xauthority", True)}
    assert p.trainer.mounts == () and "DISPLAY" not in p.trainer.environment


def test_host_x_display_setting_wins_and_xauthority_defaults_to_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (w,) = plan(tmp_path, {"DR_HOST_X": "True", "DR_DISPLAY": ":5"}, host_env={"DISPLAY": ":1"}).workers
    assert w.environment["DISPLAY"] == ":5"
    assert (str(tmp_path / ".Xauthority"), "/root/.Xauthority", True) in {
        (m.source, m.target, m.read_only) for m in w.mounts
    }


def test_no_host_x_no_display(tmp_path: Path) -> None:
    (w,) = plan(tmp_path, host_env={"DISPLAY": ":1"}).workers
    assert not {"DISPLAY", "USE_EXTERNAL_X", "XAUTHORITY"} & set(w.environment) and w.mounts == ()


def test_mount_options(tmp_path: Path) -> None:
    simapp = tmp_path / "My-Simapp"  # upper case: DRfC lower-cased the path and silently skipped it (§8.6)
    scripts = tmp_path / "scripts"
    simapp.mkdir()
    scripts.mkdir()
    settings = {
        "DR_ROBOMAKER_MOUNT_LOGS": "True",
        "DR_ROBOMAKER_MOUNT_SIMAPP_DIR": str(simapp),
        "DR_ROBOMAKER_MOUNT_SCRIPTS_DIR": str(scripts),
        "DR_LOCAL_S3_MODEL_PREFIX": "m3",
        "DR_WORKERS": "2",
    }
    p = plan(tmp_path, settings)
    logs = str(tmp_path / "home" / "data" / "logs" / "robomaker" / "m3")
    for w in p.workers:
        assert {(m.source, m.target) for m in w.mounts} == {
            (logs, "/root/.ros/log"),
            (str(simapp), "/opt/simapp"),
            (str(scripts), "/scripts"),
        }
        assert not any(m.read_only for m in w.mounts)
    assert p.trainer.mounts == ()


def test_cloudwatch_log_driver_on_every_container(tmp_path: Path) -> None:
    settings = {
        "DR_CLOUD_WATCH_ENABLE": "True",
        "DR_CLOUD_WATCH_LOG_STREAM_PREFIX": "racer-",
        "DR_AWS_APP_REGION": "eu-west-1",
    }
    p = plan(tmp_path, settings)
    for spec in p.containers:  # the trainer too: DRfC's algo container was not covered (§3.4)
        assert spec.log_driver == "awslogs"
        assert dict(spec.log_options) == {
            "awslogs-group": "/deepracer-for-cloud",
            "awslogs-create-group": "true",
            "awslogs-region": "eu-west-1",
            "tag": "racer-{{.Name}}",
        }


# --------------------------------------------------------------------------------------------- the plan as a document
def test_plan_document_masks_secrets_and_lists_every_container(tmp_path: Path) -> None:
    p = plan(
        tmp_path, {"DR_WORKERS": "2", "DR_DOCKER_STYLE": "swarm"}, credentials=Credentials("AKIA", "s3cr3t", "tok")
    )
    doc = p.to_dict()
    assert doc["backend"] == "swarm" and doc["network"] == "sagemaker-local" and doc["run_id"] == 0
    assert "s3cr3t" not in json.dumps(doc) and "tok" not in json.dumps(doc)
    assert [c["environment"]["AWS_ACCESS_KEY_ID"] for c in doc["containers"]] == ["AKIA"] * 3
    assert [(c["role"], c["worker"]) for c in doc["containers"]] == [("trainer", 0), ("robomaker", 1), ("robomaker", 2)]
    assert p.to_dict(mask=False)["containers"][0]["environment"]["AWS_SECRET_ACCESS_KEY"] == "s3cr3t"
