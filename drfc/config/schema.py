"""Every DRfC variable, typed, with its template default, in one place.

Each field of ``Settings`` is one ``DR_*`` variable: the attribute is the key
without ``DR_`` in lower case (``DR_LOCAL_S3_MODEL_PREFIX`` ->
``local_s3_model_prefix``). The field metadata is the schema: default (as raw
env-file text, so ``$DR_CAR_NAME`` style references resolve as in DRfC), the
file it belongs in, whether worker files may override it, and what values are
valid. Fields are ordered so a default only refers to fields above it.
"""

from __future__ import annotations

import enum
import types
import typing
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any, Literal

Scope = Literal["system", "run"]


class Choice(str, enum.Enum):
    """String enum whose JSON form is its value."""

    def __str__(self) -> str:
        return str(self.value)


class Cloud(Choice):
    LOCAL = "local"
    AWS = "aws"
    AZURE = "azure"
    REMOTE = "remote"


class DockerStyle(Choice):
    CONTAINERS = "containers"
    COMPOSE = "compose"
    SWARM = "swarm"


class RaceType(Choice):
    TIME_TRIAL = "TIME_TRIAL"
    OBJECT_AVOIDANCE = "OBJECT_AVOIDANCE"
    HEAD_TO_BOT = "HEAD_TO_BOT"
    HEAD_TO_MODEL = "HEAD_TO_MODEL"


class CarColor(Choice):
    BLACK = "Black"
    GREY = "Grey"
    BLUE = "Blue"
    RED = "Red"
    ORANGE = "Orange"
    WHITE = "White"
    PURPLE = "Purple"


class Checkpoint(Choice):
    BEST = "best"
    LAST = "last"


class BestModelMetric(Choice):
    PROGRESS = "progress"
    REWARD = "reward"
    LAPTIME = "laptime"


class RenderEngine(Choice):
    OGRE2 = "ogre2"
    OGRE = "ogre"


Check = Literal["url", "positions", "devices", "port", "bucket", "prefix", "directory"]


@dataclass(frozen=True)
class VarSpec:
    """What the schema knows about one variable."""

    key: str
    attr: str
    type: type
    optional: bool
    default: str | None
    scope: Scope
    help: str
    worker: bool
    secret: bool
    check: Check | None
    minimum: float | None
    maximum: float | None

    @property
    def choices(self) -> tuple[str, ...]:
        if issubclass(self.type, enum.Enum):
            return tuple(str(m.value) for m in self.type)
        return ()

    @property
    def type_name(self) -> str:
        if issubclass(self.type, enum.Enum):
            return "choice"
        return {bool: "bool", int: "int", float: "float"}.get(self.type, self.check or "string")


def _var(
    default: str | None,
    help: str,
    *,
    scope: Scope = "run",
    worker: bool = False,
    secret: bool = False,
    check: Check | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Any:
    meta = {
        "default": default,
        "scope": scope,
        "help": help,
        "worker": worker,
        "secret": secret,
        "check": check,
        "minimum": minimum,
        "maximum": maximum,
    }
    return field(metadata=meta)


def _sys(default: str | None, help: str, **kw: Any) -> Any:
    return _var(default, help, scope="system", **kw)


_CF = "$DR_LOCAL_S3_CUSTOM_FILES_PREFIX"


@dataclass(frozen=True)
class Settings:
    """The effective value of every ``DR_*`` variable, typed."""

    # --- system.env: storage and cloud ---------------------------------------------------------------
    cloud: Cloud = _sys("local", "where models are stored: local MinIO, AWS S3, Azure (local MinIO) or a remote MinIO")
    aws_app_region: str = _sys("us-east-1", "AWS region for S3, Kinesis and CloudWatch")
    upload_s3_profile: str = _sys("default", "AWS profile used for the upload/download bucket")
    upload_s3_bucket: str = _sys("not-defined", "bucket that `drfc upload` writes models to", check="bucket")
    local_s3_bucket: str = _sys("bucket", "working bucket for custom files, models and metrics", check="bucket")
    local_s3_profile: str = _sys("minio", "AWS profile with the credentials of the working bucket")
    remote_minio_url: str | None = _sys(None, "S3 endpoint of an external MinIO (DR_CLOUD=remote)", check="url")
    minio_image: str = _sys("latest", "tag of the minio/minio image for the managed local store")
    # --- system.env: simulation image and GPUs ---------------------------------------------------------
    simapp_source: str = _sys("awsdeepracercommunity/deepracer-simapp", "simapp image repository")
    simapp_version: str = _sys("6.0.4-cpu", "simapp image tag; a tag containing 'gpu' selects the GPU build")
    analysis_image: str = _sys("cpu", "tag of the deepracer-analysis image")
    robomaker_cuda_devices: str | None = _sys(None, "GPU ids the Robomaker workers may use", check="devices")
    sagemaker_cuda_devices: str | None = _sys(None, "GPU ids the trainer may use", check="devices")
    # --- system.env: workers and containers --------------------------------------------------------------
    workers: int = _sys("1", "number of Robomaker simulation workers", minimum=1, maximum=50)
    docker_style: DockerStyle = _sys("compose", "containers/compose: plain containers; swarm: Swarm services")
    robomaker_mount_logs: bool = _sys("False", "keep Robomaker ROS logs under data/logs/robomaker/<prefix>")
    robomaker_mount_simapp_dir: str | None = _sys(None, "directory mounted at /opt/simapp", check="directory")
    robomaker_mount_scripts_dir: str | None = _sys(None, "directory mounted at /scripts", check="directory")
    cloud_watch_enable: bool = _sys("False", "send container logs to CloudWatch (awslogs driver)")
    cloud_watch_log_stream_prefix: str = _sys("", "prefix of the CloudWatch log stream names")
    # --- system.env: display, video and GUI ------------------------------------------------------------
    gui_enable: bool = _sys("False", "run the Gazebo GUI (VNC on port 5900+run id)")
    host_x: bool = _sys("False", "use the host's X server for rendering")
    display: str | None = _sys(None, "X display for the Robomaker workers when DR_HOST_X is on")
    kinesis_stream_name: str = _sys("", "Kinesis video stream name; leave empty unless you use KVS")
    camera_main_enable: bool = _sys("True", "render the main (follow) camera", worker=True)
    camera_sub_enable: bool = _sys("False", "render the sub (top) camera", worker=True)
    camera_kvs_enable: bool = _sys("True", "publish the overlay video topic")
    enable_extra_kvs_overlay: bool = _sys("False", "extra overlay on the video stream", worker=True)
    webviewer_port: int = _sys("8100", "host port of the stream viewer", check="port")
    quiet_activate: bool = _sys("False", "DRfC only: skip the summary on activation")
    # --- system.env: experiments, metrics, DRoA ------------------------------------------------------------
    experiment_name: str | None = _sys(None, "experiment folder under experiments/ to use")
    telegraf_host: str | None = _sys(None, "Telegraf host for real-time metrics")
    telegraf_port: int | None = _sys(None, "Telegraf UDP port", check="port")
    droa_url: str | None = _sys(None, "URL of your DeepRacer on AWS site", check="url")
    droa_username: str | None = _sys(None, "DeepRacer on AWS user name or e-mail")
    droa_password: str | None = _sys(
        None, "DeepRacer on AWS password (better: leave unset and be prompted)", secret=True
    )
    droa_debug: bool = _sys("False", "print DRoA request details (secrets redacted)")

    # --- run.env: run identity and model location -------------------------------------------------------
    run_id: int = _var("0", "isolates parallel runs: names, ports and labels", minimum=0, maximum=99)
    local_s3_model_prefix: str = _var("rl-deepracer-sagemaker", "S3 prefix of the model being trained", check="prefix")
    local_s3_pretrained: bool = _var("False", "start from a previously trained model")
    local_s3_pretrained_prefix: str = _var("rl-sagemaker-pretrained", "prefix of the pretrained model", check="prefix")
    local_s3_pretrained_checkpoint: Checkpoint = _var("last", "which checkpoint of the pretrained model")
    local_s3_custom_files_prefix: str = _var("custom_files", "S3 prefix of the custom files", check="prefix")
    local_s3_training_params_file: str = _var("training_params.yaml", "name of the training parameters file")
    local_s3_eval_params_file: str = _var("evaluation_params.yaml", "name of the evaluation parameters file")
    local_s3_model_metadata_key: str = _var(f"{_CF}/model_metadata.json", "S3 key of model_metadata.json")
    local_s3_hyperparameters_key: str = _var(f"{_CF}/hyperparameters.json", "S3 key of hyperparameters.json")
    local_s3_reward_key: str = _var(f"{_CF}/reward_function.py", "S3 key of reward_function.py")
    local_s3_metrics_prefix: str = _var("$DR_LOCAL_S3_MODEL_PREFIX/metrics", "S3 prefix of the metrics files")
    upload_s3_prefix: str = _var("$DR_LOCAL_S3_MODEL_PREFIX-1", "prefix in the upload bucket", check="prefix")
    # --- run.env: track and car --------------------------------------------------------------------------
    world_name: str = _var("reinvent_base", "track name (a _cw/_ccw suffix picks the direction)", worker=True)
    race_type: RaceType = _var("TIME_TRIAL", "race type", worker=True)
    car_name: str = _var("FastCar", "car name")
    car_body_shell_type: str = _var("deepracer", "car body shell", worker=True)
    car_color: CarColor = _var("Red", "car colour", worker=True)
    display_name: str = _var("$DR_CAR_NAME", "name shown in the video overlay")
    racer_name: str = _var("$DR_CAR_NAME", "racer name")
    enable_domain_randomization: bool = _var("False", "randomise lighting and colours", worker=True)
    # --- run.env: training ---------------------------------------------------------------------------------
    train_change_start_position: bool = _var("True", "move the start position every episode", worker=True)
    train_reverse_direction: bool = _var("False", "drive the track the other way", worker=True)
    train_alternate_driving_direction: bool = _var("False", "alternate direction every episode", worker=True)
    train_start_position_offset: float = _var("0.0", "start position offset (fraction of a lap)", worker=True)
    train_round_robin_advance_dist: float = _var("0.05", "start-position step per episode", worker=True)
    train_multi_config: bool = _var("False", "give worker N its own settings from worker-N.env")
    train_min_eval_trials: int = _var("5", "evaluation episodes between training iterations", minimum=1)
    train_best_model_metric: BestModelMetric = _var("progress", "how the best checkpoint is chosen")
    train_rtf: float | None = _var(None, "real-time factor for training simulations", minimum=0.01)
    train_max_steps_per_iteration: int | None = _var(None, "experience steps per training iteration", minimum=1)
    # --- run.env: evaluation ------------------------------------------------------------------------------
    eval_number_of_trials: int = _var("3", "laps per evaluation", minimum=1)
    eval_is_continuous: bool = _var("True", "keep driving after going off track")
    eval_max_resets: int = _var("100", "resets allowed per evaluation", minimum=0)
    eval_off_track_penalty: float = _var("5.0", "seconds added per off-track", minimum=0)
    eval_collision_penalty: float = _var("5.0", "seconds added per collision", minimum=0)
    eval_save_mp4: bool = _var("False", "store evaluation videos in S3")
    eval_checkpoint: Checkpoint = _var("last", "which checkpoint to evaluate")
    eval_opp_s3_model_prefix: str = _var("rl-deepracer-sagemaker", "opponent model for HEAD_TO_MODEL", check="prefix")
    eval_opp_s3_metrics_prefix: str | None = _var(None, "opponent metrics prefix (default <opponent>/metrics)")
    eval_opp_car_body_shell_type: str = _var("deepracer", "opponent body shell")
    eval_opp_car_name: str = _var("FasterCar", "opponent car name")
    eval_opp_display_name: str = _var("$DR_EVAL_OPP_CAR_NAME", "opponent name in the overlay")
    eval_opp_racer_name: str = _var("$DR_EVAL_OPP_CAR_NAME", "opponent racer name")
    eval_debug_reward: bool = _var("False", "log reward details during evaluation")
    eval_reset_behind_dist: float = _var("1.0", "metres behind the crash point the car restarts", minimum=0)
    eval_reverse_direction: bool = _var("False", "evaluate driving the track the other way")
    eval_rtf: float | None = _var(None, "real-time factor for evaluation", minimum=0.01)
    # --- run.env: object avoidance ---------------------------------------------------------------------
    oa_number_of_obstacles: int = _var("6", "number of obstacles", worker=True, minimum=0)
    oa_min_distance_between_obstacles: float = _var("2.0", "minimum gap between obstacles (m)", worker=True)
    oa_randomize_obstacle_locations: bool = _var("False", "place obstacles randomly", worker=True)
    oa_is_obstacle_bot_car: bool = _var("False", "obstacles are parked bot cars", worker=True)
    oa_obstacle_type: str = _var("box_obstacle", "obstacle model", worker=True)
    oa_object_positions: str = _var("", "fixed positions 'progress,lane;...'", worker=True, check="positions")
    # --- run.env: head to bot ------------------------------------------------------------------------------
    h2b_is_lane_change: bool = _var("False", "bot cars change lanes", worker=True)
    h2b_lower_lane_change_time: float = _var("3.0", "shortest time between lane changes (s)", worker=True)
    h2b_upper_lane_change_time: float = _var("5.0", "longest time between lane changes (s)", worker=True)
    h2b_lane_change_distance: float = _var("1.0", "distance of a lane change (m)", worker=True)
    h2b_number_of_bot_cars: int = _var("3", "number of bot cars", worker=True, minimum=0)
    h2b_min_distance_between_bot_cars: float = _var("2.0", "minimum gap between bot cars (m)", worker=True)
    h2b_randomize_bot_car_locations: bool = _var("False", "place bot cars randomly", worker=True)
    h2b_bot_car_speed: float = _var("0.2", "bot car speed (m/s)", worker=True, minimum=0)
    h2b_bot_car_penalty: float = _var("5.0", "seconds added for hitting a bot car", worker=True, minimum=0)
    # --- optional simulation settings ----------------------------------------------------------------
    gazebo_args: str | None = _var(None, "extra Gazebo arguments (ignored by simapp 6)")
    gazebo_render_engine: RenderEngine = _var("ogre2", "Gazebo render engine")

    def value(self, key: str) -> Any:
        """Typed value of a ``DR_*`` key."""
        return getattr(self, attr_of(key))


def attr_of(key: str) -> str:
    return key[3:].lower()


def key_of(attr: str) -> str:
    return "DR_" + attr.upper()


def _unwrap(annotation: Any) -> tuple[type, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


@cache
def specs() -> tuple[VarSpec, ...]:
    """The schema, in declaration order."""
    hints = typing.get_type_hints(Settings)
    result = []
    for f in fields(Settings):
        typ, optional = _unwrap(hints[f.name])
        m = f.metadata
        result.append(
            VarSpec(
                key=key_of(f.name),
                attr=f.name,
                type=typ,
                optional=optional,
                default=m["default"],
                scope=m["scope"],
                help=m["help"],
                worker=m["worker"],
                secret=m["secret"],
                check=m["check"],
                minimum=m["minimum"],
                maximum=m["maximum"],
            )
        )
    return tuple(result)


@cache
def spec_by_key() -> dict[str, VarSpec]:
    return {s.key: s for s in specs()}


#: Old names DRfC still reads as fallbacks, and the name that replaced them.
LEGACY_NAMES: dict[str, str] = {
    "DR_CHANGE_START_POSITION": "DR_TRAIN_CHANGE_START_POSITION",
    "DR_ALTERNATE_DRIVING_DIRECTION": "DR_TRAIN_ALTERNATE_DRIVING_DIRECTION",
}

#: Names that used to mean something and are now ignored, with what to do instead.
RETIRED_NAMES: dict[str, str] = {
    "DR_SAGEMAKER_IMAGE": "use DR_SIMAPP_SOURCE and DR_SIMAPP_VERSION",
    "DR_ROBOMAKER_IMAGE": "use DR_SIMAPP_SOURCE and DR_SIMAPP_VERSION",
    "DR_COACH_IMAGE": "use DR_SIMAPP_SOURCE and DR_SIMAPP_VERSION",
    "DR_KINESIS_STREAM_ENABLE": "use DR_CAMERA_KVS_ENABLE",
    "DR_UPLOAD_S3_ROLE": "no longer used",
    "DR_TRAIN_ROUND_ROBIN_ADVANCE_DISTANCE": "the variable is DR_TRAIN_ROUND_ROBIN_ADVANCE_DIST",
}

#: Values DRfC computes at activation; a DRfC shell exports them, drfc computes its own.
DRFC_COMPUTED_NAMES: frozenset[str] = frozenset(
    {
        "DR_DIR",
        "DR_CONFIG",
        "DR_ROBOMAKER_TRAIN_PORT",
        "DR_ROBOMAKER_EVAL_PORT",
        "DR_ROBOMAKER_GUI_PORT",
        "DR_DOCKER_FILE_SEP",
        "DR_LOCAL_S3_ENDPOINT_URL",
        "DR_MINIO_URL",
        "DR_LOCAL_PROFILE_ENDPOINT_URL",
        "DR_TRAIN_COMPOSE_FILE",
        "DR_EVAL_COMPOSE_FILE",
        "DR_MINIO_COMPOSE_FILE",
        "DR_LOCAL_S3_AUTH_MODE",
        "DR_LOCAL_ACCESS_KEY_ID",
        "DR_LOCAL_SECRET_ACCESS_KEY",
        "DR_UPLOAD_PROFILE",
        "DR_DOCKER_MAJOR_VERSION",
        "DR_CURRENT_PARAMS_FILE",
        "DR_MOUNT_DIR",
        "DR_VIEWER_HTML",
        "DR_NGINX_CONF",
        "DR_SIMAPP_IMAGE",
    }
)

SECRET_HINTS = ("SECRET", "PASSWORD", "TOKEN", "ACCESS_KEY")


def is_secret(key: str) -> bool:
    spec = spec_by_key().get(key)
    if spec is not None and spec.secret:
        return True
    return any(h in key.upper() for h in SECRET_HINTS)
