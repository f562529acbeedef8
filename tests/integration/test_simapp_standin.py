"""The simapp stand-in image, driven through drfc's own training plan and Docker adapter.

Each test builds a real ``Config`` (a DRfC home made from ``defaults/`` templates plus ``--set``-style
overrides), asks ``plan_training`` for the containers and starts them with ``DockerEngine().run``, next
to a MinIO stand-in reachable as ``http://minio:9000`` on a fresh bridge network. The stand-in then
has to behave like the real ``awsdeepracercommunity/deepracer-simapp`` image: S3 objects and formats,
log lines, exit codes and signal behaviour of contract §8 (shared/reference/simapp-contract.md).

Two defects this suite found in the plan are pinned by tests that start planned specs unchanged:
a string command split on spaces by the Docker SDK (``bash -c`` then gave run.sh no arguments), and
config files copied into /opt/ml/input/config, a directory the image lacks.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import random
import re
import socket
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest
from botocore.exceptions import ClientError
from drfc.adapters.docker_engine import DockerEngine
from drfc.config import model as config_model
from drfc.config.load import LoadOptions, load_config
from drfc.config.model import Config
from drfc.core.containers import ContainerSpec, FileCopy, Mount
from drfc.core.params import dump_yaml
from drfc.core.plan import Credentials, RunPlan
from drfc.core.training_plan import plan_training
from tests.support.minio_standin import run_minio, wait_live
from tests.support.s3server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.s3]

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "defaults"
BUCKET = "bucket"
ROOT_USER = "simapp-test-user"
ROOT_PASSWORD = "simapp-test-password-42"
TEST_LABELS = {"drfc.test": "1"}
# Stand-in knobs (scripts/standin/simapp/README.md): short episodes, quick polling and shutdown.
FAST = {"STANDIN_EPISODE_SECONDS": "0.1", "STANDIN_POLL_SECONDS": "0.1", "STANDIN_SHUTDOWN_SECONDS": "0.2"}
MIN_EVAL_TRIALS = 2
NUM_EPOCHS = 5  # defaults/hyperparameters.json

SIMTRACE_HEADER = (
    "episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,progress,"
    "closest_waypoint,track_len,tstamp,episode_status,pause_duration,obstacle_crash_counter,wall_clock"
)
TRAINING_RECORD = [
    "reward_score",
    "metric_time",
    "start_time",
    "elapsed_time_in_milliseconds",
    "episode",
    "trial",
    "phase",
    "completion_percentage",
    "episode_status",
]
EVALUATION_RECORD = [
    "completion_percentage",
    "metric_time",
    "start_time",
    "elapsed_time_in_milliseconds",
    "episode_status",
    "crash_count",
    "immobilized_count",
    "off_track_count",
    "reversed_count",
    "reset_count",
    "trial",
]
STATUS_LABELS = {
    "Lap complete",
    "Crashed",
    "Off track",
    "Immobilized",
    "In progress",
    "Reversed",
    "Time Up",
    "Pause",
    "Park",
    "Prepare",
}


# ----------------------------------------------------------------------------- storage on a test network


@dataclass
class Storage:
    network: str
    s3: Any


@pytest.fixture(scope="module")
def storage(docker_client: docker.DockerClient, standin_images: dict[str, str]) -> Iterator[Storage]:
    """A MinIO stand-in with alias ``minio`` on a fresh bridge network, its port published on 127.0.0.1."""
    assert "simapp" in standin_images, "scripts/build-standin-images does not know the simapp stand-in"
    name = f"drfc-test-simapp-{uuid.uuid4().hex[:10]}"
    network = docker_client.networks.create(name, driver="bridge", labels=TEST_LABELS)
    port = free_port()
    minio = run_minio(
        docker_client,
        standin_images["minio"],
        name=f"{name}-minio",
        network=name,
        user=ROOT_USER,
        password=ROOT_PASSWORD,
        labels=TEST_LABELS,
        ports={"9000/tcp": ("127.0.0.1", port)},
    )
    try:
        wait_live(minio, port)
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=ROOT_USER,
            aws_secret_access_key=ROOT_PASSWORD,
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket=BUCKET)
        yield Storage(name, s3)
    finally:
        network.reload()
        for container in [minio, *network.containers]:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        network.remove()


# ----------------------------------------------------------------------------- a training run


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def free_run_id(client: docker.DockerClient, workers: int) -> int:
    """A DR_RUN_ID whose container names are unused and whose worker ports (8080/5900 + id) are free."""
    names = {c.name for c in client.containers.list(all=True)}
    candidates = list(range(10, 100))
    random.shuffle(candidates)
    for run_id in candidates:
        ports = [base + run_id + 1000 * w for w in range(workers) for base in (8080, 5900)]
        if not any(n.startswith(f"drfc-{run_id}-") for n in names) and all(port_free(p) for p in ports):
            return run_id
    raise RuntimeError("no free DR_RUN_ID")


def drfc_home(path: Path) -> Path:
    """A DRfC home as `drfc init --cpu` writes it, from the shipped templates."""
    values = {
        "CLOUD": "local",
        "REGION": "us-east-1",
        "LOCAL_PROFILE": "minio",
        "UPLOAD_BUCKET": "not-defined",
        "SIMAPP_VERSION": "6.0.4-cpu",
        "DOCKER_STYLE": "compose",
    }
    path.mkdir(parents=True)
    for name in ("system", "run"):
        text = (DEFAULTS / f"template-{name}.env").read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        assert not re.search(r"\{\{[A-Z_]+\}\}", text), f"unfilled placeholder in template-{name}.env"
        (path / f"{name}.env").write_text(text, encoding="utf-8")
    return path


def as_started(spec: ContainerSpec, env: dict[str, str]) -> ContainerSpec:
    """The planned spec plus test labels and stand-in knobs; nothing else is changed."""
    return replace(spec, labels={**spec.labels, **TEST_LABELS}, environment={**spec.environment, **env})


@dataclass
class Run:
    storage: Storage
    client: docker.DockerClient
    cfg: Config
    plan: RunPlan
    hyperparameters: dict[str, Any]
    engine: DockerEngine = field(default_factory=DockerEngine)
    ids: dict[str, str] = field(default_factory=dict)  # spec name -> container id

    @property
    def prefix(self) -> str:
        return self.plan.model_prefix

    # --- containers ---------------------------------------------------------------------------------
    def start(self, spec: ContainerSpec, **env: str) -> Any:
        self.ids[spec.name] = self.engine.run(as_started(spec, {**FAST, **env}))
        return self.container(spec)

    def start_all(self, trainer_env: dict[str, str] | None = None, worker_env: dict[str, str] | None = None) -> None:
        self.start(self.plan.trainer, **(trainer_env or {}))
        for spec in self.plan.workers:
            self.start(spec, **(worker_env or {}))

    def container(self, spec: ContainerSpec) -> Any:
        return self.client.containers.get(self.ids[spec.name])

    def logs(self, spec: ContainerSpec) -> str:
        return str(self.engine.logs(self.ids[spec.name]))

    def wait(self, spec: ContainerSpec, timeout: float = 60) -> int:
        try:
            code = int(self.container(spec).wait(timeout=timeout)["StatusCode"])
        except Exception as exc:  # requests' ReadTimeout or ConnectionError: still running
            pytest.fail(f"{spec.name} still running after {timeout}s ({exc}):\n{self.logs(spec)[-4000:]}")
        return code

    def wait_for_log(self, spec: ContainerSpec, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.logs(spec)
            if re.search(pattern, text):
                return text
            time.sleep(0.2)
        pytest.fail(f"{spec.name}: no {pattern!r} in the log after {timeout}s:\n{self.logs(spec)[-4000:]}")

    def file_in(self, spec: ContainerSpec, path: str) -> bytes | None:
        """A file from the container (running or stopped), or None."""
        try:
            stream, _ = self.container(spec).get_archive(path)
        except docker.errors.NotFound:
            return None
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            return member.read() if member else None

    def address(self, spec: ContainerSpec) -> str:
        networks = self.container(spec).attrs["NetworkSettings"]["Networks"]
        return str(networks[self.storage.network]["IPAddress"])

    # --- S3 -------------------------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        try:
            return bytes(self.storage.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"NoSuchKey", "404"}:
                return None
            raise

    def json(self, key: str) -> Any:
        data = self.get(key)
        assert data is not None, f"s3://{BUCKET}/{key} is missing"
        return json.loads(data)

    def keys(self, below: str = "") -> list[str]:
        pages = self.storage.s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{self.prefix}/{below}"
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def checkpoint(self) -> str | None:
        data = self.get(f"{self.prefix}/model/.coach_checkpoint")
        return None if data is None else data.decode()


@pytest.fixture
def make_run(
    storage: Storage, docker_client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Run]:
    """A configured, planned (not started) training run, with its custom files and YAML in S3."""
    # The plan puts every container on drfc's fixed network name; here it must be the test network.
    monkeypatch.setattr(config_model, "NETWORK_NAME", storage.network)

    def make(*, workers: int = 1, iterations: int = 3, episodes: int = 4, **overrides: str) -> Run:
        prefix = f"simapp-test-{uuid.uuid4().hex[:8]}"
        custom = f"{prefix}-custom_files"
        settings = {
            "DR_WORKERS": str(workers),
            "DR_RUN_ID": str(free_run_id(docker_client, workers)),
            "DR_LOCAL_S3_MODEL_PREFIX": prefix,
            "DR_LOCAL_S3_CUSTOM_FILES_PREFIX": custom,
            "DR_LOCAL_S3_MODEL_METADATA_KEY": f"{custom}/model_metadata.json",
            "DR_LOCAL_S3_REWARD_KEY": f"{custom}/reward_function.py",
            "DR_LOCAL_S3_HYPERPARAMETERS_KEY": f"{custom}/hyperparameters.json",
            "DR_LOCAL_S3_METRICS_PREFIX": f"{prefix}/metrics",
            "DR_TRAIN_MIN_EVAL_TRIALS": str(MIN_EVAL_TRIALS),
            **overrides,
        }
        home = drfc_home(tmp_path / f"home-{prefix}")
        cfg = load_config(LoadOptions(home=home, overrides=settings), environ={})
        hyperparameters = json.loads((DEFAULTS / "hyperparameters.json").read_text())
        hyperparameters.update(num_episodes_between_training=episodes, term_cond_max_episodes=iterations)
        s3 = storage.s3
        s3.put_object(Bucket=BUCKET, Key=f"{custom}/hyperparameters.json", Body=json.dumps(hyperparameters).encode())
        for name in ("model_metadata.json", "reward_function.py"):
            s3.put_object(Bucket=BUCKET, Key=f"{custom}/{name}", Body=(DEFAULTS / name).read_bytes())
        credentials = Credentials(access_key=ROOT_USER, secret_key=ROOT_PASSWORD)
        plan = plan_training(cfg, hyperparameters=hyperparameters, credentials=credentials)
        assert plan.network == storage.network
        for name, text in plan.s3_files.items():
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{name}", Body=text.encode())
        return Run(storage, docker_client, cfg, plan, hyperparameters)

    return make


# ----------------------------------------------------------------------------- format checks


def check_training_metrics(document: Any, *, training: int, evaluation: int) -> None:
    """The training metrics file, exactly as contract §4.3 describes it."""
    assert list(document) == ["metrics", "version", "best_model_metric"]
    assert document["version"] == 2.0
    assert document["best_model_metric"] == "progress"
    records = document["metrics"]
    for record in records:
        assert list(record) == TRAINING_RECORD
        assert record["phase"] in {"training", "evaluation"}
        assert record["episode_status"] in STATUS_LABELS
        assert all(isinstance(record[k], int) for k in TRAINING_RECORD if k not in ("phase", "episode_status"))
        assert record["elapsed_time_in_milliseconds"] == record["metric_time"] - record["start_time"] >= 0
    phases = [r["phase"] for r in records]
    assert phases.count("training") == training
    assert phases.count("evaluation") == evaluation
    # "episode" counts training episodes only; simulation time only moves forward.
    assert [r["episode"] for r in records if r["phase"] == "training"] == list(range(1, training + 1))
    assert all(a["metric_time"] < b["start_time"] for a, b in itertools.pairwise(records))


def check_simtrace(data: bytes | None) -> list[list[str]]:
    assert data is not None
    lines = data.decode().splitlines()
    assert lines[0] == SIMTRACE_HEADER
    rows = list(csv.reader(lines[1:]))
    assert rows, "a simtrace without steps"
    for row in rows:
        assert len(row) == 19, row
        assert row[9] in {"True", "False"} and row[10] in {"True", "False"}
    return rows


def simapp_exception(log: str) -> dict[str, Any]:
    line = next((x for x in log.splitlines() if x.startswith('{"simapp_exception"')), None)
    assert line is not None, log[-3000:]
    body = json.loads(line)["simapp_exception"]
    assert set(body) == {"date", "function", "message", "exceptionType", "eventType", "errorCode"}
    assert "ERROR: FAULT_CODE: 0" in log
    return dict(body)


def http_get(url: str, timeout: float = 15) -> tuple[str, bytes]:
    """Content type and the first bytes of ``url``, retrying until the server answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return str(response.headers["Content-Type"]), bytes(response.read1(4096))
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# ----------------------------------------------------------------------------- training end to end


@pytest.mark.parametrize(("workers", "iterations"), [(1, 5), (3, 2)], ids=["1-worker", "3-workers"])
def test_training_runs_to_its_natural_end(make_run: Callable[..., Run], workers: int, iterations: int) -> None:
    episodes = 4
    run = make_run(workers=workers, iterations=iterations, episodes=episodes, DR_GUI_ENABLE=str(workers == 1))
    trainer, robomakers = run.plan.trainer, run.plan.workers
    run.start_all()

    if workers == 1:
        # The web video server on the planned host port, and VNC because DR_GUI_ENABLE=True.
        base = f"http://127.0.0.1:{run.cfg.train_port(1)}"
        content_type, page = http_get(f"{base}/")
        assert content_type.startswith("text/html") and b"/racecar/deepracer/kvs_stream" in page
        content_type, frames = http_get(f"{base}/stream?topic=/racecar/deepracer/kvs_stream&quality=75&width=480")
        assert content_type.startswith("multipart/x-mixed-replace") and b"\xff\xd8" in frames
        with socket.create_connection(("127.0.0.1", run.cfg.gui_port(1)), timeout=5) as vnc:
            assert vnc.recv(12) == b"RFB 003.008\n"

    # The checkpoint moves while the trainer runs.
    address = run.address(trainer)
    seen: list[str] = []
    while run.container(trainer).status in {"created", "running"}:
        name = run.checkpoint()
        if name and (not seen or seen[-1] != name):
            seen.append(name)
        time.sleep(0.1)
    assert run.wait(trainer) == 0, run.logs(trainer)[-4000:]
    for spec in robomakers:
        assert run.wait(spec, timeout=30) == 143, run.logs(spec)[-4000:]  # shutdown.sh: kill 1 under tini

    final = run.checkpoint()
    assert final is not None and final.startswith(f"{iterations}_Step-")
    numbers = [int(name.split("_")[0]) for name in [*seen, final]]
    assert numbers == sorted(numbers) and len(set(numbers)) >= 2, seen

    # Trainer: ip.json with its address on the network, typed hyperparameters, log lines, local files.
    assert address and run.json(f"{run.prefix}/ip/ip.json") == {"IP": address}
    assert run.get(f"{run.prefix}/ip/done") == b"done"
    published = run.get(f"{run.prefix}/ip/hyperparameters.json")
    assert published is not None
    effective = json.loads(published)
    assert published.decode() == json.dumps(effective, indent=2, sort_keys=True)
    assert effective["num_episodes_between_training"] == episodes
    assert effective["term_cond_max_episodes"] == iterations
    assert effective["lr"] == 0.0003 and effective["loss_type"] == "huber" and effective["batch_size"] == 64
    assert run.get(f"{run.prefix}/model/model_metadata.json") == (DEFAULTS / "model_metadata.json").read_bytes()
    assert run.get(f"{run.prefix}/model/.finished") == b""
    assert run.get(f"{run.prefix}/model/.ready") == b""
    assert run.get(f"{run.prefix}/model/.lock") is None

    log = run.logs(trainer)
    order = [
        "Invoking user script",
        "Starting sage-train.sh",
        "Training Worker Args: Namespace(",
        "Using the following hyper-parameters",
        "Uploaded 3 files for checkpoint 0",
        "Reporting training SUCCESS",
    ]
    positions = [log.index(text) for text in order]
    assert positions == sorted(positions)
    assert re.search(
        rf"\[s3\] Successfully uploaded ip address to\s+s3 bucket {BUCKET} with s3 key "
        rf"{run.prefix}/ip/ip.json\.",
        log,
    )
    for number in range(iterations + 1):
        assert f"Uploaded 3 files for checkpoint {number}\n" in log
        assert f"saved intermediate frozen graph: {run.prefix}/model/model_{number}.pb" in log
    assert len(re.findall(r"^Training> Name=main_level/agent, Worker=0, Episode=\d+, ", log, re.M)) == (
        iterations * episodes
    )
    assert len(re.findall(r"^Policy training> Surrogate loss=", log, re.M)) == iterations * NUM_EPOCHS
    assert "simapp_exception" not in log
    assert run.file_in(trainer, "/opt/ml/output/success") == b""
    assert run.file_in(trainer, "/opt/ml/model/model_metadata.json") == (DEFAULTS / "model_metadata.json").read_bytes()
    assert run.file_in(trainer, "/opt/ml/model/agent/model.pb")

    # Checkpoints: the newest 4 and the best stay, with their frozen graphs.
    checkpoints = run.json(f"{run.prefix}/model/deepracer_checkpoints.json")
    assert set(checkpoints) == {"best_checkpoint", "last_checkpoint"}
    assert checkpoints["last_checkpoint"]["name"].startswith(f"{iterations - 1}_Step-")
    for entry in checkpoints.values():
        assert set(entry) == {"name", "avg_eval_metric", "time_stamp"}
        assert isinstance(entry["time_stamp"], float)
    model_keys = run.keys("model/")
    kept = {int(k.rsplit("/", 1)[1].split("_")[0]) for k in model_keys if ".ckpt." in k}
    graphs = {int(m.group(1)) for k in model_keys if (m := re.search(r"/model_(\d+)\.pb$", k))}
    newest = set(range(max(0, iterations - 3), iterations + 1))
    assert newest <= kept and len(kept - newest) <= 1 and graphs == kept
    best = int(checkpoints["best_checkpoint"]["name"].split("_")[0])
    assert best in kept
    for number in kept:
        assert len([k for k in model_keys if re.search(rf"/{number}_Step-\d+\.ckpt\.", k)]) == 3

    # Workers: index, metrics file, simtrace per iteration, goodbye.
    per_worker = [episodes // workers + (1 if k < episodes % workers else 0) for k in range(workers)]
    for k, spec in enumerate(robomakers):
        log = run.logs(spec)
        assert f"Using ROS_DOMAIN_ID={k} for worker {k}" in log
        if workers > 1:
            assert f"Starting as worker {k}, using world {run.cfg.settings.world_name} and configuration" in log
        assert "SIM_TRACE_LOG:" in log
        assert "Received termination signal from trainer. Goodbye." in log
        assert log.rstrip().endswith("Bye!")
        suffix = "" if k == 0 else f"_{k}"
        metrics = run.json(f"{run.prefix}/metrics/TrainingMetrics{suffix}.json")
        check_training_metrics(
            metrics,
            training=iterations * per_worker[k],
            evaluation=iterations * MIN_EVAL_TRIALS if k == 0 else 0,
        )
        folder = f"{k}/training-simtrace" if workers > 1 else "training-simtrace"
        expected = [f"{run.prefix}/{folder}/{i}-iteration.csv" for i in range(iterations)]
        assert run.keys(folder + "/") == sorted(expected)
        for i, key in enumerate(expected):
            rows = check_simtrace(run.get(key))
            assert len({row[0] for row in rows}) == per_worker[k], f"iteration {i} of worker {k}"
    assert "[BestModelSelection] Evaluation episode progress mean:" in run.logs(robomakers[0])
    if workers > 1:
        assert not run.keys("training-simtrace/"), "with several workers every simtrace goes below <k>/"
    else:
        assert not run.keys("0/")


# ----------------------------------------------------------------------------- how the trainer fails


def test_trainer_without_the_program_override_fails_like_the_real_image(make_run: Callable[..., Run]) -> None:
    run = make_run()
    environment = {k: v for k, v in run.plan.trainer.environment.items() if k != "SAGEMAKER_PROGRAM"}
    trainer = replace(run.plan.trainer, environment=environment)
    run.start(trainer)

    assert run.wait(trainer) == 1
    log = run.logs(trainer)
    assert "the following arguments are required: --s3_yaml_name" in log  # the image's sagemaker_bootstrap.py
    assert "ExecuteUserScriptError" in log and "Reporting training FAILURE" in log
    assert run.file_in(trainer, "/opt/ml/output/failure")
    assert run.keys() == sorted(f"{run.prefix}/{name}" for name in run.plan.s3_files)  # wrote nothing


def test_trainer_without_a_config_file_exits_2(make_run: Callable[..., Run]) -> None:
    run = make_run()
    copy = run.plan.trainer.files[0]
    files = {name: data for name, data in copy.files.items() if not name.endswith("/inputdataconfig.json")}
    trainer = replace(run.plan.trainer, files=(FileCopy(copy.directory, files),))
    run.start(trainer)

    assert run.wait(trainer) == 2
    log = run.logs(trainer)
    assert "FileNotFoundError: [Errno 2] No such file or directory: '/opt/ml/input/config/inputdataconfig.json'" in log
    assert b"FileNotFoundError" in (run.file_in(trainer, "/opt/ml/output/failure") or b"")


@pytest.mark.parametrize("failure", ["crash", "missing_metadata"])
def test_trainer_failure_is_reported_in_the_log_and_still_exits_0(make_run: Callable[..., Run], failure: str) -> None:
    if failure == "missing_metadata":  # the real thing: the key does not exist
        run = make_run(DR_LOCAL_S3_MODEL_METADATA_KEY="nowhere/model_metadata.json")
        env: dict[str, str] = {}
    else:
        run = make_run()
        env = {"STANDIN_FAIL": failure}
    run.start(run.plan.trainer, **env)

    assert run.wait(run.plan.trainer) == 0
    log = run.logs(run.plan.trainer)
    error = simapp_exception(log)
    assert "Reporting training SUCCESS" in log  # exit 0 despite the failure: detect it from the log
    assert run.get(f"{run.prefix}/model/.finished") == b""
    if failure == "missing_metadata":
        assert "nowhere/model_metadata.json" in error["message"]
        assert run.get(f"{run.prefix}/ip/ip.json") is None
    else:
        assert (run.checkpoint() or "").startswith("0_Step-")


def test_trainer_nan_failure_leaves_the_workers_waiting(make_run: Callable[..., Run]) -> None:
    run = make_run(iterations=10)
    trainer, (worker,) = run.plan.trainer, run.plan.workers
    run.start_all(trainer_env={"STANDIN_FAIL": "nan"})

    assert run.wait(trainer) == 0
    log = run.logs(trainer)
    assert "Policy training> Surrogate loss=nan" in log
    assert "NaN" in simapp_exception(log)["message"]
    assert run.get(f"{run.prefix}/model/.finished") == b""
    assert (run.checkpoint() or "").startswith("0_Step-")
    # No new checkpoint comes, so the worker never sees .finished: whoever started it must stop it.
    time.sleep(2)
    assert run.container(worker).status == "running"
    assert "Goodbye" not in run.logs(worker)
    run.engine.stop(run.ids[worker.name], timeout=10)
    assert run.wait(worker) == 143


def test_docker_stop_of_the_trainer_leaves_no_finished(make_run: Callable[..., Run]) -> None:
    run = make_run(iterations=1000)
    trainer, (worker,) = run.plan.trainer, run.plan.workers
    run.start_all()
    deadline = time.monotonic() + 60
    while not (run.checkpoint() or "").startswith(("2_", "3_")):
        assert time.monotonic() < deadline, run.logs(trainer)[-3000:]
        time.sleep(0.1)

    started = time.monotonic()
    run.engine.stop(run.ids[trainer.name], timeout=1)  # SIGTERM is ignored by train as PID 1: SIGKILL
    assert run.wait(trainer) == 137
    assert time.monotonic() - started < 8
    assert "Reporting training" not in run.logs(trainer)

    assert run.get(f"{run.prefix}/model/.finished") is None
    name = run.checkpoint()
    assert name is not None
    number = name.split("_")[0]
    for suffix in (".index", ".data-00000-of-00001", ".meta"):
        assert run.get(f"{run.prefix}/model/{name}{suffix}") is not None
    assert run.get(f"{run.prefix}/model/model_{number}.pb") is not None

    # The worker finishes the iteration, then waits for a checkpoint that never comes. A stop ends it at
    # once and it writes nothing more.
    run.wait_for_log(worker, rf"Additional evaluation\. New Checkpoint: -1, Last Checkpoint: {number}\n")
    assert run.container(worker).status == "running"
    before = run.keys()
    started = time.monotonic()
    run.engine.stop(run.ids[worker.name], timeout=10)
    assert run.wait(worker) == 143
    assert time.monotonic() - started < 5
    time.sleep(0.5)
    assert run.keys() == before
    assert "Goodbye" not in run.logs(worker)


# ----------------------------------------------------------------------------- Robomaker details


def test_worker_gives_up_when_the_trainer_publishes_no_ip(make_run: Callable[..., Run]) -> None:
    run = make_run()
    trainer, (worker,) = run.plan.trainer, run.plan.workers
    run.start_all(trainer_env={"STANDIN_FAIL": "no_ip"}, worker_env={"STANDIN_IP_TIMEOUT": "2"})

    assert run.wait(worker, timeout=30) == 143
    log = run.logs(worker)
    assert "Waiting for SageMaker Redis server IP: Time elapsed: 0 seconds" in log
    assert "Redis IP" in simapp_exception(log)["message"]
    assert log.rstrip().endswith("Bye!")
    assert run.get(f"{run.prefix}/ip/ip.json") is None
    assert run.container(trainer).status == "running"  # waits for episodes that never come


def test_run_sh_picks_worker_index_config_and_launch_file(make_run: Callable[..., Run], tmp_path: Path) -> None:
    run = make_run(workers=3)
    third = run.plan.workers[2]
    multi = {
        "multi_config": [{"config_file": f"training_params_{n}.yaml", "world_name": f"world{n}"} for n in (1, 2, 3)]
    }
    spec = replace(third, command=("/opt/ml/code/run.sh multi no_such.launch.py",))
    run.start(spec, MULTI_CONFIG=json.dumps(multi))

    assert run.wait(spec) == 1
    log = run.logs(spec)
    assert "Starting as worker 2, using world world3 and configuration training_params_3.yaml." in log
    assert "Using ROS_DOMAIN_ID=2 for worker 2" in log
    assert "file 'no_such.launch.py' was not found" in log
    assert "ros2 launch process exited with code 1" in log

    # Without DOCKER_REPLICA_SLOT the workers elect their index through /mnt/comms/workers.
    comms = tmp_path / "comms"
    comms.mkdir()
    for n, original in enumerate(run.plan.workers[:2]):
        env = {k: v for k, v in original.environment.items() if k != "DOCKER_REPLICA_SLOT"}
        elected = replace(
            original,
            command=("/opt/ml/code/run.sh multi no_such.launch.py",),
            environment=env,
            mounts=(Mount(str(comms), "/mnt/comms"),),
        )
        run.start(elected)
        assert run.wait(elected) == 1
        assert f"Using ROS_DOMAIN_ID={n} for worker {n}" in run.logs(elected)
    assert len((comms / "workers").read_text().split()) == 2


def test_evaluation_rewrites_coach_checkpoint_and_writes_metrics_simtrace_and_video(
    make_run: Callable[..., Run],
) -> None:
    run = make_run()
    s3, prefix = run.storage.s3, run.prefix
    metadata = (DEFAULTS / "model_metadata.json").read_bytes()
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/model/model_metadata.json", Body=metadata)
    names = {n: f"{n}_Step-{100 * n}.ckpt" for n in (1, 2, 3)}
    for n, name in names.items():
        for suffix in (".index", ".data-00000-of-00001", ".meta"):
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/model/{name}{suffix}", Body=b"x")
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/model/model_{n}.pb", Body=b"pb")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/model/.coach_checkpoint", Body=names[3].encode())
    checkpoints = {
        "best_checkpoint": {"name": names[2], "avg_eval_metric": 80.0, "time_stamp": 100.5},
        "last_checkpoint": {"name": names[3], "avg_eval_metric": 60.0, "time_stamp": 140.25},
    }
    s3.put_object(
        Bucket=BUCKET, Key=f"{prefix}/model/deepracer_checkpoints.json", Body=json.dumps(checkpoints).encode()
    )
    stamp = "20260101120000"
    world = run.cfg.settings.world_name
    evaluation = {
        "AWS_REGION": "us-east-1",
        "JOB_TYPE": "EVALUATION",
        "S3_ENDPOINT_URL": "http://minio:9000",
        "MODEL_S3_BUCKET": [BUCKET],
        "MODEL_S3_PREFIX": [prefix],
        "SIMTRACE_S3_BUCKET": [BUCKET],
        "SIMTRACE_S3_PREFIX": [f"{prefix}/evaluation-{stamp}"],
        "METRICS_S3_BUCKET": [BUCKET],
        "METRICS_S3_OBJECT_KEY": [f"{prefix}/metrics/evaluation/evaluation-{stamp}.json"],
        "MP4_S3_BUCKET": [BUCKET],
        "MP4_S3_OBJECT_PREFIX": [f"{prefix}/mp4"],
        "BODY_SHELL_TYPE": ["deepracer"],
        "CAR_COLOR": ["Red"],
        "DISPLAY_NAME": ["racer"],
        "RACER_NAME": ["racer"],
        "EVAL_CHECKPOINT": "best",
        "WORLD_NAME": world,
        "RACE_TYPE": "TIME_TRIAL",
        "NUMBER_OF_TRIALS": "3",
        "IS_CONTINUOUS": "True",
        "NUMBER_OF_RESETS": "100",
    }
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/evaluation_params.yaml", Body=dump_yaml(evaluation).encode())
    robomaker = run.plan.workers[0]
    env = {k: v for k, v in robomaker.environment.items() if not k.startswith("SAGEMAKER_SHARED_")}
    env.update(MODEL_S3_BUCKET=BUCKET, MODEL_S3_PREFIX=prefix, S3_YAML_NAME="evaluation_params.yaml")
    evaluator = replace(robomaker, command=("/opt/ml/code/run.sh run evaluation.launch.py",), environment=env)
    run.start(evaluator)

    assert run.wait(evaluator) == 143
    log = run.logs(evaluator)
    assert "Evaluation job complete" in log and log.rstrip().endswith("Bye!")
    assert len(re.findall(r"^Testing> Name=main_level/agent, Worker=0, ", log, re.M)) == 3
    assert run.checkpoint() == names[2]  # rewritten to the best checkpoint
    document = run.json(f"{prefix}/metrics/evaluation/evaluation-{stamp}.json")
    assert list(document) == ["metrics"]
    assert [list(record) for record in document["metrics"]] == [EVALUATION_RECORD] * 3
    assert [record["trial"] for record in document["metrics"]] == [1, 2, 3]
    rows = check_simtrace(run.get(f"{prefix}/evaluation-{stamp}/evaluation-simtrace/0-iteration.csv"))
    assert len({row[0] for row in rows}) == 3
    for camera in ("camera-pip", "camera-45degree", "camera-topview"):
        video = run.get(f"{prefix}/mp4/{camera}/0-video.mp4")
        assert video is not None and video[4:8] == b"ftyp"

    # Without any checkpoint the evaluation fails with simapp_exception and ends through shutdown.sh.
    empty = f"{prefix}-empty"
    evaluation.update(MODEL_S3_PREFIX=[empty], SIMTRACE_S3_PREFIX=[f"{empty}/evaluation-{stamp}"])
    s3.put_object(Bucket=BUCKET, Key=f"{empty}/evaluation_params.yaml", Body=dump_yaml(evaluation).encode())
    s3.put_object(Bucket=BUCKET, Key=f"{empty}/model/model_metadata.json", Body=metadata)
    failing = replace(
        evaluator, name=f"{evaluator.name}-empty", environment={**evaluator.environment, "MODEL_S3_PREFIX": empty}
    )
    run.start(failing)
    assert run.wait(failing) != 0
    assert "No checkpoint" in simapp_exception(run.logs(failing))["message"]


# ----------------------------------------------------------------------------- known plan defects


def test_planned_worker_command_reaches_run_sh_intact(make_run: Callable[..., Run]) -> None:
    run = make_run(workers=3)
    second = run.plan.workers[1]
    run.ids[second.name] = run.engine.run(replace(second, labels={**second.labels, **TEST_LABELS}))
    log = run.wait_for_log(second, r"Using ROS_DOMAIN_ID=\d+ for worker \d+")
    assert "Using ROS_DOMAIN_ID=1 for worker 1" in log


def test_planned_trainer_config_files_can_be_copied_in(make_run: Callable[..., Run]) -> None:
    run = make_run()
    trainer = run.plan.trainer
    run.ids[trainer.name] = run.engine.run(replace(trainer, labels={**trainer.labels, **TEST_LABELS}))
