"""The training worker sage-train.sh runs: S3 writes, checkpoints and log lines of the real trainer.

Iteration pacing: the trainer serves port 6379 (see ``resp``); every Robomaker worker publishes
each finished training episode there. Iteration k (k = 1..term_cond_max_episodes) is "trained"
once ``num_episodes_between_training`` episodes have arrived, which takes
STANDIN_TRAIN_SECONDS (default 2 × STANDIN_EPISODE_SECONDS), and then checkpoint k is written.
Without workers the trainer waits for episodes forever, like the real one.

Every failure is reported with a ``simapp_exception`` line; ``model/.finished`` is still written
and the process exits 0, as the real trainer usually does. A killed trainer writes nothing more.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from simapp_standin.common import GAP, SimappError, Store, fail_mode, knob, log, report, strip_s3_uri
from simapp_standin.resp import EpisodeServer

MODEL_DIR = Path("/opt/ml/model")
CHECKPOINT_FILES = (".index", ".data-00000-of-00001", ".meta")
KEEP_CHECKPOINTS = 4
CHECKPOINT_NAME = re.compile(r"^(\d+)_Step-(\d+)\.ckpt")
FROZEN_GRAPH = re.compile(r"^model_(\d+)\.pb$")

COMMON_DEFAULTS: dict[str, Any] = {
    "batch_size": 64,
    "discount_factor": 0.999,
    "e_greedy_value": 0.05,
    "epsilon_steps": 10000,
    "exploration_type": "categorical",
    "loss_type": "mean squared error",
    "lr": 0.0003,
    "num_episodes_between_training": 20,
    "stack_size": 1,
    "term_cond_avg_score": 350.0,
    "term_cond_max_episodes": 100000,
}
PPO_DEFAULTS: dict[str, Any] = {"beta_entropy": 0.01, "num_epochs": 10}
SAC_DEFAULTS: dict[str, Any] = {"sac_alpha": 0.2}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """training_worker's arguments; the other ``--key value`` pairs from the toolkit are ignored."""
    parser = argparse.ArgumentParser(prog="training_worker")
    parser.add_argument("--checkpoint_dir", default="./checkpoint_sagemaker")
    parser.add_argument("--s3_bucket", required=True)
    parser.add_argument("--s3_prefix", required=True)
    parser.add_argument("--s3_endpoint_url", default=os.environ.get("S3_ENDPOINT_URL"))
    parser.add_argument("--aws_region", default=os.environ.get("AWS_REGION", "us-east-1"))
    parser.add_argument("--model_metadata_s3_key", default="")
    parser.add_argument("--pretrained_s3_bucket", default=None)
    parser.add_argument("--pretrained_s3_prefix", default=None)
    parser.add_argument("--pretrained_checkpoint", default="best")
    parser.add_argument("--preset_s3_key", default=None)
    parser.add_argument("--environment_s3_key", default=None)
    parser.add_argument("--framework", default="tensorflow")
    args, _ = parser.parse_known_args(argv)
    return args


def given_hyperparameters() -> dict[str, Any]:
    """The algorithm hyperparameters come only from SM_TRAINING_ENV; without it, defaults apply."""
    raw = os.environ.get("SM_TRAINING_ENV", "")
    if not raw:
        return {}
    return dict(json.loads(raw).get("hyperparameters", {}))


def effective_hyperparameters(given: dict[str, Any], algorithm: str) -> dict[str, Any]:
    """Defaults merged with the given values, each coerced to its default's type."""
    defaults = {**COMMON_DEFAULTS, **(SAC_DEFAULTS if algorithm == "sac" else PPO_DEFAULTS)}
    result: dict[str, Any] = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        try:
            if isinstance(default, bool):
                result[key] = str(value).lower() in {"1", "true"}
            elif isinstance(default, int):
                result[key] = int(float(value))
            elif isinstance(default, float):
                result[key] = float(value)
            else:
                result[key] = str(value)
        except (TypeError, ValueError) as exc:
            raise SimappError(
                f"Hyperparameter {key} has an invalid value {value!r}",
                function="training_worker",
                exception_type="training_worker.exceptions",
                event_type="user_error",
                error_code="400",
            ) from exc
    return result


def frozen_graph(number: int) -> bytes:
    return f"drfc simapp stand-in: frozen inference graph of checkpoint {number}\n".encode()


class Trainer:
    """One training job: S3 layout under ``<bucket>/<prefix>`` and the local /opt/ml/model copy."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.bucket: str = args.s3_bucket
        self.prefix: str = args.s3_prefix
        endpoint = args.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or None
        self.s3 = Store(endpoint, args.aws_region)
        self.server = EpisodeServer(channel=self.prefix)
        self.total_steps = 0
        self.total_episodes = 0
        self.episode_seconds = knob("STANDIN_EPISODE_SECONDS", 0.2)

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def uploaded(self, what: str, key: str) -> None:
        log(f"[s3] Successfully uploaded {what} to{GAP}s3 bucket {self.bucket} with s3 key {key}.")

    # --- start-up -------------------------------------------------------------------------------------
    def model_metadata(self) -> dict[str, Any]:
        key = strip_s3_uri(self.args.model_metadata_s3_key)
        data = None if fail_mode() == "missing_metadata" or not key else self.s3.get(self.bucket, key)
        if data is None:
            raise SimappError(
                f"Model metadata does not exist: s3://{self.bucket}/{key}",
                function="download_model_metadata",
                exception_type="s3_datastore.exceptions",
                event_type="user_error",
                error_code="400",
            )
        metadata = json.loads(data)
        self.s3.put(self.bucket, self.key("model/model_metadata.json"), data)
        MODEL_DIR.mkdir(parents=True, exist_ok=True)
        (MODEL_DIR / "model_metadata.json").write_bytes(data)
        self.uploaded("model_metadata", self.key("model/model_metadata.json"))
        return dict(metadata)

    def publish_hyperparameters(self, hyperparameters: dict[str, Any]) -> None:
        key = self.key("ip/hyperparameters.json")
        self.s3.put_json(self.bucket, key, hyperparameters, indent=2, sort_keys=True)
        self.uploaded("hyperparameters", key)
        log("Using the following hyper-parameters")
        log(json.dumps(hyperparameters, indent=2, sort_keys=True))

    def publish_ip(self) -> None:
        address = socket.gethostbyname(socket.gethostname())
        self.s3.put_json(self.bucket, self.key("ip/ip.json"), {"IP": address})
        self.uploaded("ip address", self.key("ip/ip.json"))
        self.s3.put(self.bucket, self.key("ip/done"), b"done")

    def point_pretrained_checkpoint(self) -> None:
        """Side effect of training from a pretrained model: its .coach_checkpoint names best or last."""
        source = self.args.pretrained_s3_prefix
        bucket = self.args.pretrained_s3_bucket or self.bucket
        choice = "last" if str(self.args.pretrained_checkpoint).lower() == "last" else "best"
        checkpoints = self.s3.get_json(bucket, f"{source}/model/deepracer_checkpoints.json") or {}
        entry = checkpoints.get(f"{choice}_checkpoint") or checkpoints.get("last_checkpoint") or {}
        name = entry.get("name") or self.s3.get_text(bucket, f"{source}/model/.coach_checkpoint")
        if not name:
            raise SimappError(
                f"No checkpoint found in the pretrained model s3://{bucket}/{source}/model",
                function="load_pretrained_checkpoint",
                exception_type="s3_datastore.exceptions",
                event_type="user_error",
                error_code="400",
            )
        self.s3.put(bucket, f"{source}/model/.coach_checkpoint", name)
        log(f"Loaded pretrained checkpoint {name} from s3://{bucket}/{source}/model ({choice})")

    # --- checkpoints ----------------------------------------------------------------------------------
    def best_and_last(self) -> tuple[int, int]:
        document = self.s3.get_json(self.bucket, self.key("model/deepracer_checkpoints.json")) or {}

        def number(entry: Any) -> int:
            match = CHECKPOINT_NAME.match(str((entry or {}).get("name", "")))
            return int(match.group(1)) if match else -1

        return number(document.get("best_checkpoint")), number(document.get("last_checkpoint"))

    def save_checkpoint(self, number: int) -> None:
        name = f"{number}_Step-{self.total_steps}.ckpt"
        log(f"Checkpoint> Saving in path=['{self.args.checkpoint_dir}/agent/{name}']")
        lock = self.key("model/.lock")
        self.s3.put(self.bucket, lock, b"")
        for suffix in CHECKPOINT_FILES:
            self.s3.put(self.bucket, self.key(f"model/{name}{suffix}"), f"{name}{suffix}\n".encode())
        self.s3.put(self.bucket, self.key("model/.coach_checkpoint"), name)
        self.s3.put(self.bucket, self.key(f"model/model_{number}.pb"), frozen_graph(number))
        self.s3.delete(self.bucket, lock)
        best, last = self.best_and_last()
        agent = MODEL_DIR / "agent"
        agent.mkdir(parents=True, exist_ok=True)
        (agent / "model.pb").write_bytes(frozen_graph(best if 0 <= best <= number else number))
        log(f"Uploaded 3 files for checkpoint {number}")
        log(f"saved intermediate frozen graph: {self.key(f'model/model_{number}.pb')}")
        log(f"Best checkpoint number: {best}, Last checkpoint number: {last}")
        self.retain(best)

    def mark_ready(self) -> None:
        lock = self.key("model/.lock")
        self.s3.put(self.bucket, lock, b"")
        self.s3.put(self.bucket, self.key("model/.ready"), b"")
        self.s3.delete(self.bucket, lock)

    def retain(self, best: int) -> None:
        """Keep the newest checkpoints and the best one; delete the rest (ckpt files and frozen graph)."""
        by_number: dict[int, list[str]] = {}
        for key in self.s3.keys(self.bucket, self.key("model/")):
            name = key.rsplit("/", 1)[-1]
            match = CHECKPOINT_NAME.match(name) or FROZEN_GRAPH.match(name)
            if match:
                by_number.setdefault(int(match.group(1)), []).append(key)
        keep = set(sorted(by_number)[-KEEP_CHECKPOINTS:]) | {best}
        for number, keys in sorted(by_number.items()):
            if number not in keep:
                for key in keys:
                    self.s3.delete(self.bucket, key)

    # --- training -------------------------------------------------------------------------------------
    def collect(self, wanted: int, iteration: int, hyperparameters: dict[str, Any]) -> None:
        """Block until ``wanted`` episodes have arrived from the workers; log each one."""
        exploration = float(hyperparameters.get("e_greedy_value", 0.0))
        if hyperparameters.get("exploration_type") == "categorical":
            exploration = 0.0
        for _ in range(wanted):
            episode = self.server.episodes.get()
            self.total_episodes += 1
            self.total_steps += int(episode.get("steps", 0))
            log(
                f"Training> Name=main_level/agent, Worker=0, Episode={self.total_episodes}, "
                f"Total reward={float(episode.get('reward', 0)):.2f}, Exploration={exploration:.2f}, "
                f"Steps={self.total_steps}, Training iteration={iteration}"
            )

    def train(self, iteration: int, hyperparameters: dict[str, Any], algorithm: str) -> None:
        seconds = knob("STANDIN_TRAIN_SECONDS", 2 * self.episode_seconds)
        epochs = int(hyperparameters.get("num_epochs", 1)) if algorithm != "sac" else 1
        broken = fail_mode() == "nan" and iteration == 1
        for epoch in range(epochs):
            time.sleep(seconds / max(epochs, 1))
            if algorithm == "sac":
                continue
            loss = "nan" if broken else f"{-0.05 / (iteration + epoch + 1):.4f}"
            log(
                f"Policy training> Surrogate loss={loss}, KL divergence={0.02 / (iteration + 1):.4f}, "
                f"Entropy={max(0.2, 1.6 - 0.1 * iteration):.4f}, training epoch={epoch}, "
                f"learning_rate={hyperparameters.get('lr', 0.0003)}"
            )
            if broken:
                raise SimappError(
                    "NaN detected in loss function, aborting training.",
                    function="training_worker",
                    exception_type="training_worker.exceptions",
                    event_type="system_error",
                    error_code="500",
                )

    def run(self) -> None:
        self.server.start()
        metadata = self.model_metadata()
        algorithm = str(metadata.get("training_algorithm", "clipped_ppo")).lower()
        hyperparameters = effective_hyperparameters(given_hyperparameters(), algorithm)
        self.publish_hyperparameters(hyperparameters)
        if fail_mode() != "no_ip":
            self.publish_ip()
        if self.args.pretrained_s3_prefix:
            self.point_pretrained_checkpoint()
        self.save_checkpoint(0)
        self.mark_ready()
        if fail_mode() == "crash":
            raise SimappError(
                "Injected failure (STANDIN_FAIL=crash): the training worker crashed.",
                function="training_worker",
                exception_type="training_worker.exceptions",
            )
        per_iteration = int(hyperparameters["num_episodes_between_training"])
        for iteration in range(1, int(hyperparameters["term_cond_max_episodes"]) + 1):
            self.collect(per_iteration, iteration - 1, hyperparameters)
            self.train(iteration, hyperparameters, algorithm)
            self.save_checkpoint(iteration)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    log(f"Training Worker Args: {args}")
    trainer = Trainer(args)
    try:
        trainer.run()
    except SimappError as error:
        report(error)
    except Exception as exc:  # the real worker reports whatever went wrong the same way
        traceback.print_exc(file=sys.stdout)
        report(SimappError(f"{type(exc).__name__}: {exc}", function="training_worker"))
    finally:
        # Reached on a normal end and after a reported failure; never after SIGKILL.
        trainer.s3.put(trainer.bucket, trainer.key("model/.finished"), b"")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
