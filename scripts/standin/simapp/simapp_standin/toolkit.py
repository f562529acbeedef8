"""``train``: what the SageMaker training toolkit does inside the simapp image before sage-train.sh.

Reads the three config files, JSON-decodes the hyperparameters, waits until every host resolves,
exports the SM_* variables and runs ``$SAGEMAKER_PROGRAM`` from /opt/ml/code with the
hyperparameters as sorted ``--key value`` arguments. Reports SUCCESS or FAILURE, writes
/opt/ml/output/success or /opt/ml/output/failure and exits 0, 1, or the errno of a config error.

As PID 1 it installs no SIGTERM handler (the kernel then drops SIGTERM), so ``docker stop`` ends in
SIGKILL after the grace period, as with the real image. ``STANDIN_SIGTERM=exit`` makes it exit 137
at once instead.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from simapp_standin.common import knob, log

INPUT = Path("/opt/ml/input")
CONFIG = INPUT / "config"
OUTPUT = Path("/opt/ml/output")
MODEL = Path("/opt/ml/model")
CODE = Path("/opt/ml/code")


def write_marker(name: str, text: str = "") -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / name).write_text(text)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def decode(value: Any) -> Any:
    """``"64"`` -> 64, ``"0.0003"`` -> 0.0003, ``"huber"`` stays a string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def as_argument(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def user_args(hyperparameters: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for key in sorted(hyperparameters):
        args += [f"--{key}", as_argument(hyperparameters[key])]
    return args


def wait_for_hosts(hosts: list[str]) -> None:
    """Every host must resolve before anything runs (the real toolkit retries for 15 minutes)."""
    deadline = time.monotonic() + knob("STANDIN_DNS_TIMEOUT", 900)
    for host in hosts:
        while True:
            try:
                socket.gethostbyname(host)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)


def gpu_count() -> int:
    return len([p for p in Path("/dev").glob("nvidia[0-9]*")])


def training_environment(
    program: str, hyperparameters: dict[str, Any], resources: dict[str, Any], args: list[str]
) -> dict[str, str]:
    """The SM_* variables the toolkit exports to the user script."""
    hosts = list(resources.get("hosts", []))
    current = str(resources.get("current_host", hosts[0] if hosts else "algo-1"))
    interface = str(resources.get("network_interface_name", "eth0"))
    cpus, gpus, module = os.cpu_count() or 1, gpu_count(), program.rsplit(".", 1)[0]
    document: dict[str, Any] = {
        "additional_framework_parameters": {},
        "channel_input_dirs": {},
        "current_host": current,
        "hosts": hosts,
        "hyperparameters": hyperparameters,
        "input_config_dir": str(CONFIG),
        "input_data_config": {},
        "input_dir": str(INPUT),
        "job_name": os.environ.get("TRAINING_JOB_NAME", ""),
        "log_level": 20,
        "model_dir": str(MODEL),
        "module_dir": str(CODE),
        "module_name": module,
        "network_interface_name": interface,
        "num_cpus": cpus,
        "num_gpus": gpus,
        "output_data_dir": str(OUTPUT / "data"),
        "output_dir": str(OUTPUT),
        "resource_config": resources,
        "user_entry_point": program,
    }
    env = {
        "SM_TRAINING_ENV": json.dumps(document),
        "SM_USER_ARGS": json.dumps(args),
        "SM_HPS": json.dumps(hyperparameters),
        "SM_MODEL_DIR": str(MODEL),
        "SM_INPUT_DIR": str(INPUT),
        "SM_INPUT_CONFIG_DIR": str(CONFIG),
        "SM_OUTPUT_DIR": str(OUTPUT),
        "SM_OUTPUT_DATA_DIR": str(OUTPUT / "data"),
        "SM_CHANNELS": "[]",
        "SM_CURRENT_HOST": current,
        "SM_HOSTS": json.dumps(hosts),
        "SM_NETWORK_INTERFACE_NAME": interface,
        "SM_NUM_CPUS": str(cpus),
        "SM_NUM_GPUS": str(gpus),
        "SM_MODULE_NAME": module,
        "SM_MODULE_DIR": str(CODE),
        "SM_USER_ENTRY_POINT": program,
        "SM_RESOURCE_CONFIG": json.dumps(resources),
        "SM_INPUT_DATA_CONFIG": "{}",
    }
    for key, value in hyperparameters.items():
        env[f"SM_HP_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def fail(text: str, code: int) -> int:
    log("Reporting training FAILURE")
    log(text)
    write_marker("failure", text)
    return code


def main() -> int:
    if os.environ.get("STANDIN_SIGTERM", "").strip().lower() == "exit":
        signal.signal(signal.SIGTERM, lambda *_: os._exit(137))
    try:
        hyperparameters = {k: decode(v) for k, v in read_json(CONFIG / "hyperparameters.json").items()}
        resources = read_json(CONFIG / "resourceconfig.json")
        read_json(CONFIG / "inputdataconfig.json")
    except (OSError, ValueError) as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        sys.stderr.write(text)
        sys.stderr.flush()
        return fail(f"{type(exc).__name__}: {exc}", getattr(exc, "errno", None) or 1)
    try:
        wait_for_hosts(list(resources.get("hosts", [])))
    except OSError as exc:
        return fail(f"host resolution failed: {exc}", 1)

    program = os.environ.get("SAGEMAKER_PROGRAM", "").strip()
    if not program:
        return fail("ValueError: SAGEMAKER_PROGRAM is not set; no user entry point to run", 1)
    args = user_args(hyperparameters)
    env = {**os.environ, **training_environment(program, hyperparameters, resources, args)}
    for directory in (MODEL, OUTPUT / "data"):
        directory.mkdir(parents=True, exist_ok=True)

    if program.endswith(".py"):
        command = [sys.executable, program, *args]
        shown = " ".join(shlex.quote(word) for word in command)
    else:
        shown = " ".join(shlex.quote(word) for word in [f"./{program}", *args])
        command = ["/bin/sh", "-c", shown]
    log("Invoking user script")
    log("Training Env:\n")
    log(json.dumps(json.loads(env["SM_TRAINING_ENV"]), indent=4, sort_keys=True))
    log("\nInvoking script with the following command:\n")
    log(shown + "\n")
    code = subprocess.call(command, cwd=CODE, env=env)
    if code == 0:
        log("Reporting training SUCCESS")
        write_marker("success")
        return 0
    return fail(f'ExecuteUserScriptError:\nExitCode {code}\nCommand "{shown}"', 1)


if __name__ == "__main__":
    sys.exit(main())
