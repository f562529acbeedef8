"""`drfc evaluation report`: evaluations of the model read back from S3, per trial and summed up.

An evaluation is found by its metrics file (``<metrics>/evaluation/evaluation-<stamp>.json``, the
simapp's format, rewritten after every trial), under the model and under its ``-E`` clone. The stamp
ties it to the simtrace (``<prefix>/evaluation-<stamp>/``), the videos
(``<prefix>/mp4/evaluation-<stamp>/``) and the YAML drfc recorded next to the simtrace (race type,
track, checkpoint, number of trials). Evaluations DRfC ran have no record; they are reported all the same.
The computations are pure functions over the parsed documents.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import yaml

from drfc.config.model import Config
from drfc.core.evaluation import clone_prefix, metrics_prefix_for
from drfc.core.params import STAMP_FORMAT, EvaluationKeys
from drfc.core.status import number

if TYPE_CHECKING:
    from drfc.adapters.s3 import S3Store
    from drfc.core.storage import RemoteObject

_METRICS_NAME = re.compile(r"^evaluation-(\d{14})\.json$")
LAP_COMPLETE = "Lap complete"


@dataclass(frozen=True)
class Trial:
    trial: int
    lap_time: float | None  # seconds
    progress: float
    status: str
    resets: int
    off_track: int
    collisions: int | None  # crash_count, where the simapp wrote one
    immobilized: int
    reversed: int
    completed: bool


@dataclass(frozen=True)
class Summary:
    trials: int
    completed: int
    best_lap: float | None
    average_lap: float | None  # of completed laps
    average_progress: float | None
    resets: int
    off_track: int
    collisions: int | None


@dataclass
class Video:
    key: str
    camera: str
    size: int
    url: str | None = None


@dataclass
class Evaluation:
    stamp: str
    model_prefix: str
    metrics_key: str
    trials: list[Trial]
    summary: Summary
    race_type: str | None = None
    world: str | None = None
    checkpoint: str | None = None
    trials_expected: int | None = None
    record_key: str | None = None
    simtrace_key: str | None = None
    videos: list[Video] = field(default_factory=list)

    @property
    def started(self) -> str:
        moment = datetime.strptime(self.stamp, STAMP_FORMAT).replace(tzinfo=timezone.utc)
        return moment.isoformat().replace("+00:00", "Z")

    @property
    def state(self) -> str:
        """finished (the simtrace is uploaded at the very end), or how far it got."""
        if self.simtrace_key:
            return "finished"
        if self.trials_expected is not None and len(self.trials) >= self.trials_expected:
            return "finished"
        return "unfinished"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stamp": self.stamp,
            "started": self.started,
            "state": self.state,
            "model_prefix": self.model_prefix,
            "race_type": self.race_type,
            "world": self.world,
            "checkpoint": self.checkpoint,
            "trials_expected": self.trials_expected,
            "metrics_key": self.metrics_key,
            "record_key": self.record_key,
            "simtrace_key": self.simtrace_key,
            "summary": asdict(self.summary),
            "trials": [asdict(t) for t in self.trials],
            "videos": [asdict(v) for v in self.videos],
        }


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def parse_trials(document: Any) -> list[Trial]:
    """The trials of an evaluation metrics document (``{"metrics": [...]}``), in trial order."""
    records = document.get("metrics") if isinstance(document, dict) else None
    trials = []
    for index, record in enumerate(r for r in records or [] if isinstance(r, dict)):
        status = str(record.get("episode_status") or "")
        progress = number(record.get("completion_percentage")) or 0.0
        elapsed = number(record.get("elapsed_time_in_milliseconds"))
        trials.append(
            Trial(
                trial=_int(record.get("trial")) or index + 1,
                lap_time=None if elapsed is None else elapsed / 1000.0,
                progress=progress,
                status=status,
                resets=_int(record.get("reset_count")),
                off_track=_int(record.get("off_track_count")),
                collisions=_int(record["crash_count"]) if "crash_count" in record else None,
                immobilized=_int(record.get("immobilized_count")),
                reversed=_int(record.get("reversed_count")),
                completed=status == LAP_COMPLETE or progress >= 100.0,
            )
        )
    return sorted(trials, key=lambda t: t.trial)


def summarize(trials: Sequence[Trial]) -> Summary:
    """Best and average lap over the completed trials; progress averaged over all of them."""
    laps = [t.lap_time for t in trials if t.completed and t.lap_time is not None]
    collisions = [t.collisions for t in trials if t.collisions is not None]
    return Summary(
        trials=len(trials),
        completed=sum(1 for t in trials if t.completed),
        best_lap=min(laps) if laps else None,
        average_lap=sum(laps) / len(laps) if laps else None,
        average_progress=sum(t.progress for t in trials) / len(trials) if trials else None,
        resets=sum(t.resets for t in trials),
        off_track=sum(t.off_track for t in trials),
        collisions=sum(collisions) if collisions else None,
    )


def stamp_of(key: str) -> str | None:
    match = _METRICS_NAME.match(key.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def apply_record(evaluation: Evaluation, record: Any) -> None:
    """Race type, track, checkpoint and trial count from the YAML drfc kept next to the simtrace."""
    if not isinstance(record, dict):
        return
    evaluation.race_type = str(record["RACE_TYPE"]) if "RACE_TYPE" in record else None
    evaluation.world = str(record["WORLD_NAME"]) if "WORLD_NAME" in record else None
    evaluation.checkpoint = str(record["EVAL_CHECKPOINT"]) if "EVAL_CHECKPOINT" in record else None
    trials = str(record.get("NUMBER_OF_TRIALS", ""))
    evaluation.trials_expected = int(trials) if trials.isdigit() else None


def camera_of(key: str) -> str:
    parts = key.split("/")
    return parts[-2] if len(parts) >= 2 else ""


def select(stamps: Iterable[str], *, everything: bool) -> set[str]:
    ordered = sorted(set(stamps))
    return set(ordered) if everything else set(ordered[-1:])


def collect(
    cfg: Config,
    store: S3Store,
    *,
    everything: bool = False,
    presign: Callable[[str], str] | None = None,
) -> list[Evaluation]:
    """The latest (or every) evaluation of the configured model and of its clone, oldest first."""
    s = cfg.settings
    source = s.local_s3_model_prefix
    found: dict[str, EvaluationKeys] = {}  # metrics key -> the evaluation's keys
    for prefix in (source, clone_prefix(source)):
        metrics = metrics_prefix_for(cfg, prefix)
        for obj in store.list(f"{metrics}/evaluation"):
            stamp = stamp_of(obj.key)
            if stamp and obj.key not in found:
                found[obj.key] = EvaluationKeys(s.local_s3_bucket, prefix, metrics, stamp)
    wanted = select((keys.stamp for keys in found.values()), everything=everything)
    listings: dict[str, list[RemoteObject]] = {}
    evaluations = []
    for key, keys in sorted(found.items(), key=lambda item: (item[1].stamp, item[1].prefix)):
        if keys.stamp not in wanted:
            continue
        prefix = keys.prefix
        if prefix not in listings:  # one listing per prefix for simtraces, records and videos
            listings[prefix] = store.list(f"{prefix}/evaluation-", folder=False) + store.list(f"{prefix}/mp4")
        evaluations.append(_evaluation(store, key, keys, listings[prefix], presign))
    return evaluations


def _evaluation(
    store: S3Store,
    metrics_key: str,
    keys: EvaluationKeys,
    listing: list[RemoteObject],
    presign: Callable[[str], str] | None,
) -> Evaluation:
    """One evaluation from its metrics file and the listing of its prefix (simtrace, record, videos)."""
    try:
        document = json.loads(store.get_bytes(metrics_key))
    except ValueError:
        document = None
    trials = parse_trials(document)
    evaluation = Evaluation(keys.stamp, keys.prefix, metrics_key, trials, summarize(trials))
    folder = f"{keys.simtrace_prefix}/"
    videos = f"{keys.mp4_prefix}/"
    for obj in listing:
        if obj.key == keys.record_key:
            evaluation.record_key = obj.key
            with contextlib.suppress(yaml.YAMLError):
                apply_record(evaluation, yaml.safe_load(store.get_bytes(obj.key)))
        elif obj.key.startswith(f"{folder}evaluation-simtrace/") and obj.key.endswith(".csv"):
            evaluation.simtrace_key = obj.key
        elif obj.key.startswith(videos) and obj.key.endswith(".mp4"):
            video = Video(obj.key, camera_of(obj.key), obj.size)
            if presign is not None:
                video.url = presign(obj.key)
            evaluation.videos.append(video)
    return evaluation
