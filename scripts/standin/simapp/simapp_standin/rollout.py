"""distributed_training.launch.py: one Robomaker rollout worker of a training run.

Downloads and checks the YAML, finds the trainer through ``ip/done`` and ``ip/ip.json``, waits for
checkpoint 0 and ``.ready``, then plays its share of every iteration's episodes (worker 0 also
evaluates each checkpoint and keeps ``deepracer_checkpoints.json``), and uploads an iteration's
simtrace when the next checkpoint arrives. It stops when a new checkpoint comes with ``.finished``;
a trainer that dies without a new checkpoint leaves it waiting, as with the real image.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from simapp_standin import telegraf
from simapp_standin.common import GAP, SimappError, Store, episode_seconds, knob, log, poll_seconds
from simapp_standin.params import TRAINING_MANDATORY, Params, load, user_error
from simapp_standin.resp import EpisodeLink
from simapp_standin.sim import Episode, Simulator, episode_line, simtrace_csv, training_record

CHECKPOINT_NAME = re.compile(r"^(\d+)_Step-(\d+)\.ckpt$")
CONNECT_SECONDS = 30.0
FINISHED_GRACE_SECONDS = 10.0


def system_error(message: str, function: str) -> SimappError:
    return SimappError(message, function=function, exception_type="rollout_worker.exceptions")


def metrics_key_for(key: str, worker: int) -> str:
    """Worker 0 writes the YAML's key; worker k > 0 adds ``_k`` before ``.json``."""
    if worker == 0:
        return key
    stem, dot, extension = key.rpartition(".")
    return f"{stem}_{worker}.{extension}" if dot else f"{key}_{worker}"


class RolloutWorker:
    def __init__(self, params: Params, worker: int) -> None:
        self.params = params
        self.worker = worker
        self.bucket = str(params.first("SAGEMAKER_SHARED_S3_BUCKET"))
        self.prefix = str(params.first("SAGEMAKER_SHARED_S3_PREFIX"))
        self.workers = int(params.get("NUM_WORKERS", 1) or 1)
        region = str(params.first("AWS_REGION") or os.environ.get("APP_REGION") or "us-east-1")
        # Markov talks to S3 through the YAML's endpoint (AWS when the key is absent).
        self.s3 = Store(params.get("S3_ENDPOINT_URL") or None, region)
        self.metrics_bucket = str(params.first("METRICS_S3_BUCKET"))
        self.metrics_key = metrics_key_for(str(params.first("METRICS_S3_OBJECT_KEY")), worker)
        self.simtrace_bucket = str(params.first("SIMTRACE_S3_BUCKET") or self.bucket)
        self.simtrace_prefix = str(params.first("SIMTRACE_S3_PREFIX") or self.prefix)
        self.min_eval_trials = int(params.get("MIN_EVAL_TRIALS", 5) or 0)
        self.best_metric = str(params.get("BEST_MODEL_METRIC", "progress") or "progress").lower()
        self.records: list[dict[str, Any]] = []
        self.trained_episodes = 0  # the metrics' "episode": counts training episodes only
        self.total_steps = 0
        self.best: tuple[str, float] | None = None
        self.simulator: Simulator | None = None
        self.link: EpisodeLink | None = None
        self.link_down = False  # after a failed send, until the next checkpoint shows a live trainer

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    # --- start-up -------------------------------------------------------------------------------------
    def fetch(self, key_name: str, what: str) -> bytes:
        key = str(self.params.first(key_name) or "")
        data = self.s3.get(self.bucket, key) if key else None
        if data is None:
            raise user_error(f"The {what} s3://{self.bucket}/{key} does not exist", "download_customer_files")
        return data

    def load_custom_files(self) -> dict[str, Any]:
        metadata = json.loads(self.fetch("MODEL_METADATA_FILE_S3_KEY", "model metadata"))
        reward = self.fetch("REWARD_FILE_S3_KEY", "reward function")
        try:
            compile(reward, "reward_function.py", "exec")
        except SyntaxError as exc:
            raise user_error(f"Reward function code has a syntax error: {exc}", "load_reward_function") from exc
        return dict(metadata)

    def trainer_address(self) -> str:
        timeout = knob("STANDIN_IP_TIMEOUT", 1200)
        started = time.monotonic()
        next_log = 0.0
        while not self.s3.exists(self.bucket, self.key("ip/done")):
            elapsed = time.monotonic() - started
            if elapsed >= next_log:
                log(f"Waiting for SageMaker Redis server IP: Time elapsed: {int(elapsed)} seconds")
                next_log += 5
            if elapsed > timeout:
                raise system_error("Timed out while attempting to retrieve the Redis IP", "get_ip")
            time.sleep(poll_seconds())
        document = self.s3.get_json(self.bucket, self.key("ip/ip.json")) or {}
        address = str(document.get("IP", ""))
        if not address:
            raise system_error("ip.json has no IP", "get_ip")
        log(f"Received IP from SageMaker successfully: {address}")
        return address

    def connect(self, address: str) -> EpisodeLink:
        link = EpisodeLink(address)
        deadline = time.monotonic() + CONNECT_SECONDS
        while True:
            try:
                if link.ping():
                    log(f"Connected to the trainer's Redis server at {address}:6379")
                    return link
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise system_error(f"Cannot reach the trainer's Redis server at {address}:6379", "redis_connect")
            time.sleep(1)

    # --- checkpoints ----------------------------------------------------------------------------------
    def newer_checkpoint(self, after: int) -> tuple[int, str] | None:
        """The checkpoint named by .coach_checkpoint when it is newer than ``after`` and complete."""
        if self.s3.exists(self.bucket, self.key("model/.lock")):
            return None
        name = (self.s3.get_text(self.bucket, self.key("model/.coach_checkpoint")) or "").strip()
        match = CHECKPOINT_NAME.match(name)
        if not match or int(match.group(1)) <= after:
            return None
        for suffix in (".index", ".data-00000-of-00001", ".meta"):
            if self.s3.get(self.bucket, self.key(f"model/{name}{suffix}")) is None:
                return None
        return int(match.group(1)), name

    def wait_for_checkpoint(self, after: int) -> tuple[int, str]:
        said = False
        while (found := self.newer_checkpoint(after)) is None:
            if self.worker == 0 and after >= 0 and not said:
                log(f"Additional evaluation. New Checkpoint: -1, Last Checkpoint: {after}")
                said = True
            time.sleep(poll_seconds())
        log(f"Loaded checkpoint {found[1]}")
        return found

    def wait_ready(self) -> None:
        deadline = time.monotonic() + knob("STANDIN_READY_TIMEOUT", 300)
        while not self.s3.exists(self.bucket, self.key("model/.ready")):
            if time.monotonic() > deadline:
                raise system_error("Timed out waiting for the trainer's .ready file", "wait_for_ready")
            time.sleep(poll_seconds())

    def finished(self, checkpoint: int, last_iteration: int) -> bool:
        """Whether the trainer is done; after its last checkpoint, give .finished a moment to appear."""
        deadline = time.monotonic() + (FINISHED_GRACE_SECONDS if checkpoint >= last_iteration else 0)
        while True:
            if self.s3.exists(self.bucket, self.key("model/.finished")):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_seconds())

    # --- episodes -------------------------------------------------------------------------------------
    def upload_metrics(self) -> None:
        document = {"metrics": self.records, "version": 2.0, "best_model_metric": self.best_metric}
        self.s3.put_json(self.metrics_bucket, self.metrics_key, document)
        where = f"s3 bucket {self.metrics_bucket} with s3 key {self.metrics_key}"
        log(f"[s3] Successfully uploaded metrics to{GAP}{where}.")

    def point(self, episode: Episode) -> None:
        telegraf.send(
            "dr_training_episodes",
            {"phase": episode.phase, "status": episode.label, "model": self.prefix, "worker": str(self.worker)},
            {"reward": episode.reward, "progress": episode.progress, "elapsed_time": episode.elapsed_ms},
        )

    def train_episode(self, checkpoint: int, trial: int) -> Episode:
        assert self.simulator is not None
        episode = self.simulator.play("training", checkpoint)
        time.sleep(episode_seconds())
        for row in episode.rows:
            log(f"SIM_TRACE_LOG:{row}")
        self.trained_episodes += 1
        self.total_steps += episode.steps
        log(episode_line("Training", self.trained_episodes, episode.reward, self.total_steps, checkpoint))
        self.records.append(training_record(episode, self.trained_episodes, trial))
        self.upload_metrics()
        self.point(episode)
        message = {
            "worker": self.worker,
            "episode": episode.number,
            "steps": episode.steps,
            "reward": episode.reward,
            "progress": episode.progress,
            "status": episode.status,
        }
        if self.link is not None and not self.link_down:
            try:
                self.link.publish(self.prefix, message)
            except OSError as exc:
                log(f"Failed to send the episode to the trainer ({exc}); episodes are lost until a new checkpoint")
                self.link_down = True
        return episode

    def evaluate(self, checkpoint: int, name: str) -> None:
        """Worker 0 after each iteration: evaluation episodes, then best-model selection."""
        assert self.simulator is not None
        log("## agent: Starting evaluation phase")
        played: list[Episode] = []
        for trial in range(1, self.min_eval_trials + 1):
            episode = self.simulator.play("evaluation", checkpoint)
            time.sleep(episode_seconds())
            log(episode_line("Testing", self.trained_episodes, episode.reward, episode.steps, checkpoint))
            self.records.append(training_record(episode, self.trained_episodes, trial))
            self.upload_metrics()
            self.point(episode)
            played.append(episode)
        if not played:
            return
        success = sum(e.status == "lap_complete" for e in played) / len(played)
        mean_reward = sum(e.reward for e in played) / len(played)
        log(f"## agent: Finished evaluation phase. Success rate = {success}, Avg Total Reward = {mean_reward:.2f}")
        self.select_best(name, played)

    def select_best(self, name: str, played: list[Episode]) -> None:
        assert self.simulator is not None
        value: float | None
        if self.best_metric == "reward":
            value = sum(e.reward for e in played) / len(played)
        elif self.best_metric == "laptime":
            laps = [e.elapsed_ms for e in played if e.status == "lap_complete"]
            value = sum(laps) / len(laps) if laps else None
        else:
            value = sum(e.progress for e in played) / len(played)
        log(f"[BestModelSelection] Evaluation episode {self.best_metric} mean: {value}")
        lower_is_better = self.best_metric == "laptime"
        if value is not None and (
            self.best is None or (value < self.best[1] if lower_is_better else value > self.best[1])
        ):
            previous = self.best[0] if self.best else None
            log(f'[BestModelSelection] Updating the best checkpoint to "{name}" from "{previous}".')
            self.best = (name, value)
        stamp = round(self.simulator.clock, 3)
        best_name, best_value = self.best if self.best else (name, None)
        document = {
            "best_checkpoint": {"name": best_name, "avg_eval_metric": best_value, "time_stamp": stamp},
            "last_checkpoint": {"name": name, "avg_eval_metric": value, "time_stamp": stamp},
        }
        key = self.key("model/deepracer_checkpoints.json")
        self.s3.put_json(self.bucket, key, document)
        log(f"[s3] Successfully uploaded deepracer checkpoints to{GAP}s3 bucket {self.bucket} with s3 key {key}.")

    def upload_simtrace(self, iteration: int, rows: list[str]) -> None:
        folder = f"{self.simtrace_prefix}/{self.worker}" if self.workers > 1 else self.simtrace_prefix
        key = f"{folder}/training-simtrace/{iteration}-iteration.csv"
        self.s3.put(self.simtrace_bucket, key, simtrace_csv(rows))
        log(f"[s3] Successfully uploaded simtrace_training to{GAP}s3 bucket {self.simtrace_bucket} with s3 key {key}.")

    # --- the job --------------------------------------------------------------------------------------
    def run(self) -> None:
        metadata = self.load_custom_files()
        self.simulator = Simulator(str(self.params.get("WORLD_NAME")), metadata, self.worker)
        self.link = self.connect(self.trainer_address())
        hyperparameters = self.s3.get_json(self.bucket, self.key("ip/hyperparameters.json")) or {}
        per_iteration = int(hyperparameters.get("num_episodes_between_training", 20))
        last_iteration = int(hyperparameters.get("term_cond_max_episodes", 100000))
        checkpoint, name = self.wait_for_checkpoint(-1)
        self.wait_ready()
        share = per_iteration // self.workers + (1 if self.worker < per_iteration % self.workers else 0)
        if share == 0:
            log("Exiting excess worker...")
            return
        iteration = 0
        while True:
            rows: list[str] = []
            for trial in range(1, share + 1):
                rows += self.train_episode(checkpoint, trial).rows
            if self.worker == 0:
                self.evaluate(checkpoint, name)
            checkpoint, name = self.wait_for_checkpoint(checkpoint)
            self.link_down = False
            self.upload_simtrace(iteration, rows)
            iteration += 1
            if self.finished(checkpoint, last_iteration):
                log("Received termination signal from trainer. Goodbye.")
                return


def run() -> None:
    worker = int(os.environ.get("ROLLOUT_IDX", "0") or 0)
    params = load("SAGEMAKER_SHARED_S3_BUCKET", "SAGEMAKER_SHARED_S3_PREFIX", TRAINING_MANDATORY)
    RolloutWorker(params, worker).run()
