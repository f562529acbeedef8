"""What `drfc status` reports about a run, computed from S3 objects and logs (pure functions)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from drfc.core.containers import ContainerInfo
from drfc.core.runs import ENDED

_EXCEPTION = re.compile(r'\{"simapp_exception":\s*(\{.*\})\s*\}')


def iteration_of(coach_checkpoint: str) -> int | None:
    """``12_Step-3456.ckpt`` -> 12 (the number of the last checkpoint written)."""
    head = coach_checkpoint.strip().split("_", 1)[0]
    return int(head) if head.isdigit() else None


@dataclass
class WorkerProgress:
    worker: int
    episodes: int = 0
    evaluations: int = 0
    last_progress: float | None = None
    last_reward: float | None = None
    last_status: str | None = None


def worker_progress(worker: int, document: bytes | str) -> WorkerProgress:
    """Episode counts and the latest episode from a TrainingMetrics JSON (simapp format)."""
    progress = WorkerProgress(worker)
    try:
        data = json.loads(document)
    except ValueError:
        return progress
    records = [m for m in (data.get("metrics") or []) if isinstance(m, dict)]
    training = [m for m in records if m.get("phase") == "training"]
    progress.episodes = len(training)
    progress.evaluations = len(records) - len(training)
    if training:
        last = training[-1]
        progress.last_progress = number(last.get("completion_percentage"))
        progress.last_reward = number(last.get("reward_score"))
        progress.last_status = last.get("episode_status")
    return progress


def number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (booleans included)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def simapp_failure(log: str) -> str | None:
    """The message of the last ``simapp_exception`` line in a log: the trainer may exit 0 after one."""
    found = None
    for match in _EXCEPTION.finditer(log):
        try:
            found = json.loads(match.group(1))
        except ValueError:
            continue
    if not found:
        return None
    message = found.get("message") or "unknown error"
    code = found.get("errorCode")
    return f"{message}" + (f" (error code {code})" if code else "")


def unit_failures(unit: ContainerInfo, log_tail: Callable[[], str]) -> list[str]:
    """Why a unit counts as failed: a non-zero exit, an engine error, or a trainer's simapp exception."""
    failures = []
    shut_down = unit.role == "robomaker" and unit.exit_code == 143  # shutdown.sh's `kill 1` under tini
    if unit.status in ENDED and unit.exit_code not in (0, None) and not shut_down:
        failures.append(f"{unit.name} exited with code {unit.exit_code}")
    elif unit.error and not shut_down:  # e.g. a Swarm task whose container could not be started
        failures.append(f"{unit.name}: {unit.error}")
    if unit.role == "trainer":
        message = simapp_failure(log_tail())
        if message:
            failures.append(f"the trainer reported: {message}")
    return failures


@dataclass
class RunProgress:
    iteration: int | None = None
    best_checkpoint: str | None = None
    last_checkpoint: str | None = None
    finished: bool = False
    workers: list[WorkerProgress] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metrics_key(metrics_prefix: str, worker_index: int) -> str:
    """Worker 1 (rollout 0) writes TrainingMetrics.json, worker k+1 writes TrainingMetrics_k.json."""
    suffix = "" if worker_index <= 1 else f"_{worker_index - 1}"
    return f"{metrics_prefix}/TrainingMetrics{suffix}.json"
