"""Start-up stays cheap: ``--help`` and ``--version`` import no SDK and not rich; ``config show`` no SDK.

Each check runs in a fresh interpreter, because this test process has long since
imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from drfc.core.init import InitOptions, initialise

SDKS = ("boto3", "botocore", "docker", "minio")

PROBE = """
import json, sys
from drfc.cli.main import cli
try:
    cli.main({args!r}, prog_name="drfc", standalone_mode=False)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = sorted({{name.split(".")[0] for name in sys.modules}})
sys.__stderr__.write("\\n@@" + json.dumps({{"code": code, "modules": loaded}}) + "\\n")
"""


def imported_by(args: list[str], tmp_path: Path) -> tuple[object, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DR_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    env.pop("DRFC_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stderr.rsplit("\n@@", 1)[1])
    return report["code"], set(report["modules"])


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["config", "--help"], ["init", "--help"]], ids=" ".join)
def test_help_and_version_import_no_sdk_and_no_rich(tmp_path: Path, args: list[str]) -> None:
    code, modules = imported_by(args, tmp_path)
    assert code in (0, None)
    assert "click" in modules and "drfc" in modules  # the probe really ran the CLI
    assert modules.isdisjoint({*SDKS, "rich"}), sorted(modules & {*SDKS, "rich"})


def test_config_show_imports_no_sdk(tmp_path: Path) -> None:
    home = tmp_path / "home"
    initialise(
        InitOptions(home, gpu=False), lambda: (False, "unused"), {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "c")}
    )
    code, modules = imported_by(["--dir", str(home), "config", "show"], tmp_path)
    assert code in (0, None)
    assert "rich" in modules  # it renders a table, so the probe saw the command run
    assert modules.isdisjoint(SDKS), sorted(modules & set(SDKS))


def test_the_probe_would_notice_an_sdk(tmp_path: Path) -> None:
    # Guard against a probe that can never fail: importing boto3 first must show up.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DR_")}
    code = PROBE.format(args=["--version"]).replace("import json, sys", "import json, sys, botocore")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert "botocore" in json.loads(done.stderr.rsplit("\n@@", 1)[1])["modules"]
