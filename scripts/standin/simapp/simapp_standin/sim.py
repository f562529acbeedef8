"""Made-up but well-formed episodes: simtrace rows, log lines and metrics records.

A car drives round a circular track. Progress grows with the checkpoint number, so later
checkpoints look better and best-model selection has something to choose. Everything is seeded
from the worker index, phase and episode number, so a run is reproducible. Time is a simulation
clock (15 steps per simulated second); wall time per episode is STANDIN_EPISODE_SECONDS.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

SIMTRACE_HEADER = (
    "episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,progress,"
    "closest_waypoint,track_len,tstamp,episode_status,pause_duration,obstacle_crash_counter,wall_clock"
)
STEP_SECONDS = 1 / 15
RESET_SECONDS = 1.0
WAYPOINTS = 120
STATUS_LABELS = {
    "in_progress": "In progress",
    "lap_complete": "Lap complete",
    "off_track": "Off track",
    "crashed": "Crashed",
    "immobilized": "Immobilized",
    "reversed": "Reversed",
    "time_up": "Time Up",
}


@dataclass(frozen=True)
class Action:
    steer: float
    speed: float
    text: str  # the simtrace "action" column: an index, or "[steer speed]" for continuous spaces


class ActionSpace:
    """The model metadata's action space: a list of actions, or continuous low/high ranges."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        space = metadata.get("action_space", [])
        self.discrete = isinstance(space, list)
        self.actions: list[tuple[float, float]] = []
        self.steer = self.speed = (0.0, 0.0)
        if self.discrete:
            self.actions = [(float(a.get("steering_angle", 0)), float(a.get("speed", 1))) for a in space]
            self.actions = self.actions or [(0.0, 1.0)]
        else:
            steer = space.get("steering_angle", {})
            speed = space.get("speed", {})
            self.steer = (float(steer.get("low", -30)), float(steer.get("high", 30)))
            self.speed = (float(speed.get("low", 0.5)), float(speed.get("high", 1.0)))

    def pick(self, rng: random.Random) -> Action:
        if self.discrete:
            index = rng.randrange(len(self.actions))
            steer, speed = self.actions[index]
            return Action(steer, speed, str(index))
        steer = round(rng.uniform(*self.steer), 2)
        speed = round(rng.uniform(*self.speed), 2)
        return Action(steer, speed, f"[{steer} {speed}]")


@dataclass
class Episode:
    """One finished episode as the simapp would record it."""

    number: int  # per-container counter, as in the simtrace "episode" column
    phase: str  # training | evaluation
    checkpoint: int
    rows: list[str]
    reward: float
    steps: int
    progress: float
    status: str  # raw status, e.g. off_track
    start_ms: int
    end_ms: int
    resets: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def elapsed_ms(self) -> int:
        return self.end_ms - self.start_ms


def track_length(world: str) -> float:
    """A stable track length in metres for a world name (no track files here)."""
    digest = int(hashlib.sha1(world.encode()).hexdigest()[:6], 16)
    return round(16.0 + (digest % 2000) / 100, 2)


class Simulator:
    """The simulation of one Robomaker container: its clock, track, action space and episode counter."""

    def __init__(self, world: str, metadata: dict[str, Any], worker: int) -> None:
        self.world = world
        self.worker = worker
        self.track_len = track_length(world)
        self.radius = self.track_len / (2 * math.pi)
        self.actions = ActionSpace(metadata)
        self.clock = 12.0  # simulation seconds: spawning the car takes a while
        self.episodes = 0
        self.lap_steps = max(30, int(self.track_len * 4))

    def play(self, phase: str, checkpoint: int, *, continuous: bool = False, max_resets: int = 0) -> Episode:
        """Drive one episode (instantly: the caller sleeps STANDIN_EPISODE_SECONDS)."""
        number = self.episodes
        self.episodes += 1
        rng = random.Random(f"{self.worker}:{phase}:{number}:{checkpoint}")
        skill = 20 + 25 * checkpoint + (8 if phase == "evaluation" else 0)
        target = max(3.0, min(100.0, skill + rng.uniform(-10, 10)))
        resets = {"crash_count": 0, "immobilized_count": 0, "off_track_count": 0, "reversed_count": 0}
        if continuous:
            # Evaluation keeps driving after a mistake, up to max_resets times.
            offs = rng.randint(0, 2) if target < 100 else rng.randint(0, 1)
            resets["off_track_count"] = min(offs, max_resets + 1)
            target = 100.0 if resets["off_track_count"] <= max_resets else target
        status = "lap_complete" if target >= 100 else rng.choice(["off_track"] * 6 + ["crashed", "immobilized"])
        steps = max(1, round(self.lap_steps * target / 100))
        start = self.clock
        rows: list[str] = []
        reward = 0.0
        start_angle = rng.uniform(0, 2 * math.pi)
        for step in range(1, steps + 1):
            action = self.actions.pick(rng)
            progress = target * step / steps
            angle = start_angle + 2 * math.pi * progress / 100
            x = 3.0 + self.radius * math.cos(angle)
            y = 1.5 + self.radius * math.sin(angle)
            yaw = math.degrees(angle + math.pi / 2) % 360 - 180
            step_reward = round(rng.uniform(0.1, 1.0), 4)
            done = step == steps
            on_track = not (done and status != "lap_complete")
            raw = status if done else "in_progress"
            self.clock += STEP_SECONDS
            rows.append(
                ",".join(
                    [
                        str(number),
                        str(step),
                        f"{x:.4f}",
                        f"{y:.4f}",
                        f"{yaw:.4f}",
                        f"{action.steer:.1f}",
                        f"{action.speed:.2f}",
                        action.text,
                        f"{step_reward:.4f}",
                        str(done),
                        str(on_track),
                        f"{progress:.4f}",
                        str(int(progress / 100 * WAYPOINTS) % WAYPOINTS),
                        f"{self.track_len:.2f}",
                        f"{self.clock:.3f}",
                        raw,
                        "0.0",
                        "0",
                        f"{time.time():.3f}",
                    ]
                )
            )
            reward += step_reward
        end = self.clock
        self.clock += RESET_SECONDS
        resets["reset_count"] = resets["off_track_count"] + resets["crash_count"]
        return Episode(
            number=number,
            phase=phase,
            checkpoint=checkpoint,
            rows=rows,
            reward=round(reward, 4),
            steps=steps,
            progress=round(target, 2),
            status=status,
            start_ms=int(start * 1000),
            end_ms=int(end * 1000),
            resets=resets,
        )


def episode_line(kind: str, episode: int, reward: float, steps: int, iteration: int, exploration: float = 0.0) -> str:
    """The rl_coach per-episode line: ``Training> ...`` or ``Testing> ...`` (Worker is always 0)."""
    return (
        f"{kind}> Name=main_level/agent, Worker=0, Episode={episode}, Total reward={reward:.2f}, "
        f"Exploration={exploration:.2f}, Steps={steps}, Training iteration={iteration}"
    )


def training_record(episode: Episode, counted_episode: int, trial: int) -> dict[str, Any]:
    """One record of the training metrics file, in the simapp's key order."""
    return {
        "reward_score": round(episode.reward),
        "metric_time": episode.end_ms,
        "start_time": episode.start_ms,
        "elapsed_time_in_milliseconds": episode.elapsed_ms,
        "episode": counted_episode,
        "trial": trial,
        "phase": episode.phase,
        "completion_percentage": int(episode.progress),
        "episode_status": episode.label,
    }


def evaluation_record(episode: Episode, trial: int) -> dict[str, Any]:
    """One record of an evaluation metrics file, in the simapp's key order."""
    return {
        "completion_percentage": int(episode.progress),
        "metric_time": episode.end_ms,
        "start_time": episode.start_ms,
        "elapsed_time_in_milliseconds": episode.elapsed_ms,
        "episode_status": episode.label,
        "crash_count": episode.resets.get("crash_count", 0),
        "immobilized_count": episode.resets.get("immobilized_count", 0),
        "off_track_count": episode.resets.get("off_track_count", 0),
        "reversed_count": episode.resets.get("reversed_count", 0),
        "reset_count": episode.resets.get("reset_count", 0),
        "trial": trial,
    }


def simtrace_csv(rows: list[str]) -> str:
    return SIMTRACE_HEADER + "\n" + "".join(row + "\n" for row in rows)
