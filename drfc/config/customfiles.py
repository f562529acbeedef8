"""Checks of ``custom_files/`` against what the simapp accepts.

A bad action space or a reward function that does not compile otherwise
surfaces twenty minutes into a run, deep in a ROS log. These checks run
before anything is uploaded or started.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drfc.config.problems import Problem, suggest

HYPERPARAMETERS = "hyperparameters.json"
MODEL_METADATA = "model_metadata.json"
REWARD_FUNCTION = "reward_function.py"
REQUIRED_FILES = (HYPERPARAMETERS, MODEL_METADATA, REWARD_FUNCTION)

SENSORS = ("FRONT_FACING_CAMERA", "STEREO_CAMERAS", "LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR")
CAMERAS = ("FRONT_FACING_CAMERA", "STEREO_CAMERAS")
NETWORKS = ("DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "DEEP_CONVOLUTIONAL_NETWORK", "DEEP_CONVOLUTIONAL_NETWORK_DEEP")
ALGORITHMS = ("clipped_ppo", "sac")
ACTION_SPACE_TYPES = ("discrete", "continuous")
MAX_STEERING = 30.0
MAX_SPEED = 4.0


@dataclass(frozen=True)
class _Number:
    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if self.kind is int and not float(value).is_integer():
            return "must be a whole number"
        if not math.isfinite(value):
            return "must be finite"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"must be {'greater than' if self.low_open else 'at least'} {self.low:g}"
        if self.high is not None and value > self.high:
            return f"must be at most {self.high:g}"
        return None

    def describe(self) -> str:
        base = "a whole number" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            return f"{base} from {self.low:g} to {self.high:g}"
        if self.low is not None:
            return f"{base} {'above' if self.low_open else 'of at least'} {self.low:g}"
        return base


#: Hyperparameters the simapp reads, and what it accepts.
NUMERIC_HYPERPARAMETERS: dict[str, _Number] = {
    "batch_size": _Number(int, 1),
    "beta_entropy": _Number(float, 0),
    "discount_factor": _Number(float, 0, 1),
    "e_greedy_value": _Number(float, 0, 1),
    "epsilon_steps": _Number(int, 1),
    "lr": _Number(float, 0, low_open=True),
    "num_episodes_between_training": _Number(int, 1),
    "num_epochs": _Number(int, 1),
    "stack_size": _Number(int, 1),
    "term_cond_avg_score": _Number(float),
    "term_cond_max_episodes": _Number(int, 1),
    "sac_alpha": _Number(float, 0, low_open=True),
}
TEXT_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "exploration_type": ("categorical", "e-greedy", "e_greedy", "additive_noise"),
    "loss_type": ("huber", "mean squared error", "mse"),
}


def line_of(text: str, key: str) -> int | None:
    """Line of the first ``"key"`` in JSON text, for error messages."""
    needle = f'"{key}"'
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _read(path: Path) -> str | Problem:
    """The text of a custom file, or the problem that stops it being read."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return Problem("is missing", file=path, valid=f"a {path.name} (drfc init writes one)")
    except (OSError, UnicodeDecodeError) as exc:
        return Problem(f"cannot be read: {exc}", file=path)


def _load_json(path: Path, problems: list[Problem]) -> tuple[Any, str] | None:
    text = _read(path)
    if isinstance(text, Problem):
        problems.append(text)
        return None
    try:
        return json.loads(text), text
    except json.JSONDecodeError as exc:
        problems.append(Problem(f"is not valid JSON: {exc.msg} (column {exc.colno})", file=path, line=exc.lineno))
        return None


def check_hyperparameters(path: Path) -> list[Problem]:
    return _hyperparameters(path)[0]


def _hyperparameters(path: Path) -> tuple[list[Problem], dict[str, Any] | None]:
    """Problems of the file, and its contents when they are a JSON object."""
    problems: list[Problem] = []
    loaded = _load_json(path, problems)
    if loaded is None:
        return problems, None
    data, text = loaded
    if not isinstance(data, dict):
        return [Problem("must be a JSON object of name: value pairs", file=path, line=1)], None
    known = [*NUMERIC_HYPERPARAMETERS, *TEXT_HYPERPARAMETERS]
    for key, value in data.items():
        where: dict[str, Any] = {"file": path, "line": line_of(text, key), "key": key, "value": json.dumps(value)}
        if key in NUMERIC_HYPERPARAMETERS:
            rule = NUMERIC_HYPERPARAMETERS[key]
            if (message := rule.check(value)) is not None:
                problems.append(Problem(message, valid=rule.describe(), **where))
        elif key in TEXT_HYPERPARAMETERS:
            allowed = TEXT_HYPERPARAMETERS[key]
            if not isinstance(value, str) or value.lower() not in allowed:
                problems.append(Problem("is not an accepted value", valid=", ".join(allowed), **where))
        else:
            problems.append(
                Problem(
                    "is not a hyperparameter the simapp reads", valid=suggest(key, known), severity="warning", **where
                )
            )
    return problems, data


def check_model_metadata(path: Path, hyperparameters: dict[str, Any] | None = None) -> list[Problem]:
    problems: list[Problem] = []
    loaded = _load_json(path, problems)
    if loaded is None:
        return problems
    data, text = loaded
    if not isinstance(data, dict):
        return [Problem("must be a JSON object", file=path, line=1)]

    def at(key: str, value: Any = None, **kw: Any) -> dict[str, Any]:
        shown = None if value is None else json.dumps(value)
        return {"file": path, "line": line_of(text, key), "key": key, "value": shown, **kw}

    space = data.get("action_space")
    space_type = data.get("action_space_type")
    if space_type is None:
        space_type = "continuous" if isinstance(space, dict) else "discrete"
    elif space_type not in ACTION_SPACE_TYPES:
        problems.append(
            Problem(
                "is not an action space type",
                valid=" or ".join(ACTION_SPACE_TYPES),
                **at("action_space_type", space_type),
            )
        )
        space_type = None
    if space is None:
        problems.append(
            Problem(
                "is missing", valid="a list of actions (discrete) or ranges (continuous)", file=path, key="action_space"
            )
        )
    elif space_type == "discrete":
        problems.extend(_check_discrete(space, at))
    elif space_type == "continuous":
        problems.extend(_check_continuous(space, at))

    sensors = data.get("sensor", ["FRONT_FACING_CAMERA"])
    if not isinstance(sensors, list) or not sensors:
        problems.append(Problem("must be a non-empty list", valid=", ".join(SENSORS), **at("sensor", sensors)))
    else:
        unknown = [s for s in sensors if s not in SENSORS]
        if unknown:
            problems.append(
                Problem(
                    f"has unknown sensor(s) {', '.join(map(str, unknown))}",
                    valid=", ".join(SENSORS),
                    **at("sensor", sensors),
                )
            )
        if sum(s in CAMERAS for s in sensors) > 1:
            problems.append(
                Problem(
                    "may hold only one camera type",
                    valid="FRONT_FACING_CAMERA or STEREO_CAMERAS",
                    **at("sensor", sensors),
                )
            )
    network = data.get("neural_network", NETWORKS[0])
    if network not in NETWORKS:
        problems.append(
            Problem("is not a network the simapp builds", valid=", ".join(NETWORKS), **at("neural_network", network))
        )
    algorithm = data.get("training_algorithm", "clipped_ppo")
    if algorithm not in ALGORITHMS:
        problems.append(
            Problem("is not a training algorithm", valid=" or ".join(ALGORITHMS), **at("training_algorithm", algorithm))
        )
    elif algorithm == "sac" and space_type == "discrete":
        problems.append(
            Problem(
                "sac needs a continuous action space",
                valid='clipped_ppo, or "action_space_type": "continuous"',
                **at("training_algorithm", algorithm),
            )
        )
    if algorithm == "sac" and hyperparameters and hyperparameters.get("num_episodes_between_training", 1) != 1:
        problems.append(
            Problem(
                "SAC is usually trained with num_episodes_between_training = 1 (DeepRacer on AWS rejects other values)",
                file=path,
                key="training_algorithm",
                severity="warning",
            )
        )
    return problems


def _check_discrete(space: Any, at: Any) -> list[Problem]:
    if not isinstance(space, list) or not space:
        return [
            Problem(
                "must be a non-empty list of {steering_angle, speed} actions for a discrete space", **at("action_space")
            )
        ]
    problems: list[Problem] = []
    steer_rule = _Number(float, -MAX_STEERING, MAX_STEERING)
    speed_rule = _Number(float, 0, MAX_SPEED, low_open=True)
    for n, action in enumerate(space):
        if not isinstance(action, dict):
            problems.append(Problem(f"action {n} is not an object", **at("action_space")))
            continue
        for name, rule in (("steering_angle", steer_rule), ("speed", speed_rule)):
            value = action.get(name)
            message = "is missing" if value is None else rule.check(value)
            if message:
                problems.append(
                    Problem(f"action {n}: {name} {message}", valid=rule.describe(), **at("action_space", value))
                )
    return problems


def _check_continuous(space: Any, at: Any) -> list[Problem]:
    if not isinstance(space, dict):
        return [
            Problem(
                "must be {steering_angle: {low, high}, speed: {low, high}} for a continuous space", **at("action_space")
            )
        ]
    problems: list[Problem] = []
    limits = {"steering_angle": (-MAX_STEERING, MAX_STEERING, False), "speed": (0.0, MAX_SPEED, True)}
    for name, (low_limit, high_limit, open_low) in limits.items():
        rng = space.get(name)
        if not isinstance(rng, dict) or "low" not in rng or "high" not in rng:
            problems.append(
                Problem(f"{name} needs a low and a high value", **at(name if name in str(space) else "action_space"))
            )
            continue
        rule = _Number(float, low_limit, high_limit, low_open=open_low)
        for bound in ("low", "high"):
            if (message := rule.check(rng[bound])) is not None:
                problems.append(Problem(f"{name}.{bound} {message}", valid=rule.describe(), **at(name, rng[bound])))
        if all(isinstance(rng[b], (int, float)) for b in ("low", "high")) and rng["low"] >= rng["high"]:
            problems.append(Problem(f"{name}.low must be below {name}.high", **at(name, rng)))
    return problems


def check_reward_function(path: Path) -> list[Problem]:
    source = _read(path)
    if isinstance(source, Problem):
        return [source]
    try:
        tree = ast.parse(source, filename=str(path))
        compile(tree, str(path), "exec")
    except SyntaxError as exc:
        return [Problem(f"does not compile: {exc.msg}", file=path, line=exc.lineno)]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "reward_function":
            args = node.args
            positional = len(args.posonlyargs) + len(args.args)
            if positional >= 1 or args.vararg is not None:
                return []
            return [Problem("reward_function must take one argument, params", file=path, line=node.lineno)]
    return [
        Problem(
            "does not define reward_function(params) at top level", file=path, valid="def reward_function(params): ..."
        )
    ]


def validate_custom_files(directory: Path) -> list[Problem]:
    """Every problem in the three custom files of ``directory``."""
    if not directory.is_dir():
        return [
            Problem(
                "custom files folder does not exist",
                file=directory,
                valid="run `drfc init` or `drfc download-custom-files`",
            )
        ]
    problems, hyper = _hyperparameters(directory / HYPERPARAMETERS)
    problems += check_model_metadata(directory / MODEL_METADATA, hyper)
    problems += check_reward_function(directory / REWARD_FUNCTION)
    return problems
