"""What ``ros2 launch deepracer_simulation_environment <launch file>`` starts, reduced to its edges.

Serves 8080 (and 5900 with a GUI), runs the training or evaluation worker, reports failures with
``simapp_exception`` and then shuts down through /opt/ml/code/shutdown.sh (``Bye!``, ``kill 1``).
Like the ROS processes it stands for, it then lingers until the container is stopped, so without
``init`` (tini as PID 1) the container does not end by itself. SIGTERM ends it at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable

from simapp_standin import evaluation, rollout
from simapp_standin.common import SimappError, log, report, truthy
from simapp_standin.web import serve_video, serve_vnc

PACKAGE = "deepracer_simulation_environment"
LAUNCHES: dict[str, Callable[[], None]] = {
    "distributed_training.launch.py": rollout.run,
    "evaluation.launch.py": evaluation.run,
}
SHUTDOWN = "/opt/ml/code/shutdown.sh"


def shutdown() -> None:
    """The node monitor's reaction to the end of the job: shutdown.sh, then wait to be killed."""
    subprocess.call([SHUTDOWN])
    while True:
        time.sleep(3600)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    launch = argv[0] if argv else ""
    job = LAUNCHES.get(launch)
    if job is None:
        log(
            f"file '{launch}' was not found in the share directory of package '{PACKAGE}' at "
            f"'/opt/amazon/install/{PACKAGE}/share/{PACKAGE}/launch' (stand-in launch files: {', '.join(LAUNCHES)})"
        )
        return 1
    serve_video()
    if truthy(os.environ.get("ENABLE_GUI", "")) and not truthy(os.environ.get("USE_EXTERNAL_X", "")):
        serve_vnc()
    try:
        job()
    except SimappError as error:
        report(error)
    except Exception as exc:  # reported like the simapp reports what it did not expect
        traceback.print_exc(file=sys.stdout)
        report(SimappError(f"{type(exc).__name__}: {exc}", function=launch))
    shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
