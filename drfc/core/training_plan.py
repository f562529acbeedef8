"""The containers of a training run, as values: one trainer plus N Robomaker workers.

The trainer is started directly with the simapp's ``train`` command (no
rl_coach, no SageMaker local mode, no /tmp/sagemaker): its three config files
are built here and copied into the container before it starts. Every value
comes from the typed configuration, so this module is tested without Docker
or S3.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from drfc.config.model import Config, WorkerConfig
from drfc.config.schema import Cloud
from drfc.core.containers import ContainerSpec, FileCopy, Mount, PortMap, labels
from drfc.core.params import multi_config_json, text, training_files, worker_yaml_name
from drfc.core.plan import Credentials, RunPlan

Role = Literal["trainer", "robomaker"]
CONFIG_DIR = "/opt/ml/input/config"


def run_suffix(cfg: Config) -> str:
    """Five stable characters per home, run id and model, for the trainer's algo-1-xxxxx hostname."""
    seed = f"{cfg.home}:{cfg.run_id}:{cfg.settings.local_s3_model_prefix}"
    return hashlib.sha1(seed.encode()).hexdigest()[:5]


def devices(raw: str | None) -> tuple[str, ...]:
    return tuple(d for d in (raw or "").split(",") if d)


def common_environment(cfg: Config, credentials: Credentials | None) -> dict[str, str]:
    env: dict[str, str] = {}
    if cfg.s3_endpoint_containers:
        env["S3_ENDPOINT_URL"] = cfg.s3_endpoint_containers
    if cfg.settings.cloud == Cloud.AWS:
        env["AWS_METADATA_SERVICE_TIMEOUT"] = "3"
        env["AWS_METADATA_SERVICE_NUM_ATTEMPTS"] = "5"
    if credentials is not None:
        env.update(credentials.environment())
    s = cfg.settings
    if s.telegraf_host:
        env["TELEGRAF_HOST"] = s.telegraf_host
    if s.telegraf_port:
        env["TELEGRAF_PORT"] = str(s.telegraf_port)
    return env


def trainer_hyperparameters(cfg: Config, user: Mapping[str, Any]) -> dict[str, str]:
    """What SageMaker local mode would write: core keys merged with the user's, every value a string."""
    s = cfg.settings
    core: dict[str, Any] = {
        "s3_bucket": s.local_s3_bucket,
        "s3_prefix": s.local_s3_model_prefix,
        "aws_region": s.aws_app_region,
        "model_metadata_s3_key": f"s3://{s.local_s3_bucket}/{s.local_s3_model_metadata_key}",
    }
    if s.local_s3_pretrained:
        core.update(
            pretrained_s3_bucket=s.local_s3_bucket,
            pretrained_s3_prefix=s.local_s3_pretrained_prefix,
            pretrained_checkpoint=s.local_s3_pretrained_checkpoint.value,
        )
    merged = {**core, **user}
    return {key: str(value) for key, value in merged.items()}  # str(), as the SageMaker SDK writes them


def trainer_spec(cfg: Config, hyperparameters: Mapping[str, Any], credentials: Credentials | None) -> ContainerSpec:
    s = cfg.settings
    hostname = f"algo-1-{run_suffix(cfg)}"
    resource = {
        "current_host": hostname,
        "hosts": [hostname],
        "network_interface_name": "eth0",
        "current_instance_type": "local_gpu" if cfg.gpu_image else "local",
    }
    config_files = {
        "hyperparameters.json": json.dumps(trainer_hyperparameters(cfg, hyperparameters), indent=2).encode(),
        "resourceconfig.json": json.dumps(resource).encode(),
        "inputdataconfig.json": b"{}",
    }
    env = {
        "SAGEMAKER_PROGRAM": "sage-train.sh",
        "AWS_REGION": s.aws_app_region,
        "TRAINING_JOB_NAME": s.local_s3_model_prefix,
        "RUN_ID": str(cfg.run_id),
        **common_environment(cfg, credentials),
    }
    if cfg.s3_endpoint_containers:
        env["AWS_ENDPOINT_URL_S3"] = cfg.s3_endpoint_containers
    if s.train_max_steps_per_iteration:
        env["MAX_MEMORY_STEPS"] = str(s.train_max_steps_per_iteration)
    gpu_ids = devices(s.sagemaker_cuda_devices)
    if cfg.gpu_image and gpu_ids:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
    return ContainerSpec(
        name=f"drfc-{cfg.run_id}-{hostname}",
        image=cfg.simapp_image,
        command=("train",),
        labels=run_labels(cfg, "trainer", 0),
        environment=env,
        network=cfg.network,
        aliases=(hostname,),
        hostname=hostname,
        gpu=cfg.gpu_image,
        device_ids=gpu_ids if cfg.gpu_image else (),
        files=(FileCopy("/", {f"{CONFIG_DIR.strip('/')}/{name}": data for name, data in config_files.items()}),),
        **logging(cfg),
    )


def run_labels(
    cfg: Config, role: Role, worker: int, kind: str = "training", *, model_prefix: str | None = None
) -> dict[str, str]:
    return labels(
        kind,
        role,
        run_id=cfg.run_id,
        worker=worker,
        model_prefix=model_prefix or cfg.settings.local_s3_model_prefix,
        home=str(cfg.home),
    )


def logging(cfg: Config) -> dict[str, Any]:
    """The log driver arguments of a spec: CloudWatch when DR_CLOUD_WATCH_ENABLE, Docker's default otherwise."""
    if not cfg.settings.cloud_watch_enable:
        return {}
    return {"log_driver": "awslogs", "log_options": cloudwatch_options(cfg)}


def cloudwatch_options(cfg: Config) -> dict[str, str]:
    return {
        "awslogs-group": "/deepracer-for-cloud",
        "awslogs-create-group": "true",
        "awslogs-region": cfg.settings.aws_app_region,
        "tag": f"{cfg.settings.cloud_watch_log_stream_prefix}{{{{.Name}}}}",
    }


def simulation_spec(
    cfg: Config,
    credentials: Credentials | None,
    *,
    host_env: Mapping[str, str],
    name: str,
    command: str,
    labels: Mapping[str, str],
    environment: Mapping[str, str],
    ports: tuple[PortMap, ...],
    rtf: float | None,
    multi_config: str | None = None,
) -> ContainerSpec:
    """A Robomaker container, training's or evaluation's: ``environment`` plus what every Robomaker gets.

    That is the video and GUI switches, the ROS leftovers DRfC still passes, Gazebo, the optional
    log/simapp/scripts mounts, the host's X server, the real-time factor and the GPU ids.
    """
    s = cfg.settings
    env = {
        **environment,
        "KINESIS_VIDEO_STREAM_NAME": s.kinesis_stream_name,
        "ENABLE_KINESIS": text(s.camera_kvs_enable),
        "ENABLE_GUI": text(s.gui_enable),
        "ROS_MASTER_URI": "http://localhost:11311/",
        "ROS_IP": "127.0.0.1",
        "GAZEBO_RENDER_ENGINE": text(s.gazebo_render_engine),
        **common_environment(cfg, credentials),
    }
    if s.gazebo_args:
        env["GAZEBO_ARGS"] = s.gazebo_args
    gpu_ids = devices(s.robomaker_cuda_devices)
    if gpu_ids:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
    mounts: list[Mount] = []
    if s.robomaker_mount_logs:
        mounts.append(Mount(str(cfg.data_dir / "logs" / "robomaker" / s.local_s3_model_prefix), "/root/.ros/log"))
    if s.robomaker_mount_simapp_dir:
        mounts.append(Mount(str(Path(s.robomaker_mount_simapp_dir).expanduser()), "/opt/simapp"))
    if s.robomaker_mount_scripts_dir:
        mounts.append(Mount(str(Path(s.robomaker_mount_scripts_dir).expanduser()), "/scripts"))
    if s.host_x:
        display = s.display or host_env.get("DISPLAY", ":0")
        xauthority = host_env.get("XAUTHORITY") or str(Path("~/.Xauthority").expanduser())
        env.update(
            DISPLAY=display,
            USE_EXTERNAL_X="True",
            XAUTHORITY="/root/.Xauthority",
            QT_X11_NO_MITSHM="1",
            NVIDIA_DRIVER_CAPABILITIES="all",
        )
        mounts += [Mount("/tmp/.X11-unix", "/tmp/.X11-unix"), Mount(xauthority, "/root/.Xauthority", read_only=True)]
    if rtf:
        env["RTF_OVERRIDE"] = text(rtf)
    if multi_config:
        env["MULTI_CONFIG"] = multi_config
    return ContainerSpec(
        name=name,
        image=cfg.simapp_image,
        command=(command,),
        labels=labels,
        environment=env,
        network=cfg.network,
        ports=ports,
        mounts=tuple(mounts),
        gpu=cfg.gpu_image,
        device_ids=gpu_ids if cfg.gpu_image else (),
        init=True,
        **logging(cfg),
    )


def robomaker_spec(
    cfg: Config,
    worker: WorkerConfig,
    credentials: Credentials | None,
    *,
    host_env: Mapping[str, str],
) -> ContainerSpec:
    s = cfg.settings
    mode = "multi" if cfg.worker_count > 1 else "run"
    env = {
        "WORLD_NAME": worker.settings.world_name,
        "SAGEMAKER_SHARED_S3_PREFIX": s.local_s3_model_prefix,
        "SAGEMAKER_SHARED_S3_BUCKET": s.local_s3_bucket,
        "APP_REGION": s.aws_app_region,
        "S3_YAML_NAME": worker_yaml_name(cfg, worker.index),
        "DOCKER_REPLICA_SLOT": str(worker.index),
    }
    ports = [PortMap(8080, cfg.train_port(worker.index))]
    if s.gui_enable:
        ports.append(PortMap(5900, cfg.gui_port(worker.index)))
    return simulation_spec(
        cfg,
        credentials,
        host_env=host_env,
        name=f"drfc-{cfg.run_id}-robomaker-{worker.index}",
        command=f"/opt/ml/code/run.sh {mode} distributed_training.launch.py",
        labels=run_labels(cfg, "robomaker", worker.index),
        environment=env,
        ports=tuple(ports),
        rtf=s.train_rtf,
        multi_config=multi_config_json(cfg),
    )


def plan_training(
    cfg: Config,
    *,
    hyperparameters: Mapping[str, Any],
    credentials: Credentials | None,
    host_env: Mapping[str, str] | None = None,
) -> RunPlan:
    """Every container of the run and the YAML files to write, from the configuration alone."""
    containers = [trainer_spec(cfg, hyperparameters, credentials)]
    containers += [robomaker_spec(cfg, w, credentials, host_env=host_env or {}) for w in cfg.workers]
    return RunPlan(
        run_id=cfg.run_id,
        backend=cfg.backend,
        network=cfg.network,
        model_prefix=cfg.settings.local_s3_model_prefix,
        containers=tuple(containers),
        s3_files=training_files(cfg),
    )
