"""Ctrl-C: exit code 130, a one-line message, no traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from drfc.cli.main import cli


def remote(url: str) -> list[str]:
    return ["--set", f"DR_REMOTE_MINIO_URL={url}"]


def test_sigint_while_waiting_on_s3_exits_130(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds")}
    assert CliRunner().invoke(cli, ["--dir", str(tmp_path), "init", "--cpu"], env=env).exit_code == 0
    with socket.socket() as silent:  # accepts connections, never answers: the S3 call blocks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "drfc",
                "--dir",
                str(tmp_path),
                "--set",
                "DR_CLOUD=remote",
                *remote(url),
                "s3",
                "ls",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        conn = None
        while conn is None and time.monotonic() < deadline:
            silent.settimeout(0.5)
            try:
                conn, _ = silent.accept()  # drfc is now blocked reading the response
            except TimeoutError:
                assert proc.poll() is None, proc.communicate()
        assert conn is not None, "drfc never connected"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        conn.close()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err


def test_keyboard_interrupt_inside_a_command_maps_to_130(monkeypatch, tmp_path: Path) -> None:
    import drfc.cli.config_cmd as config_cmd

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(config_cmd, "_display", boom)
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds")}
    assert CliRunner().invoke(cli, ["--dir", str(tmp_path), "init", "--cpu"], env=env).exit_code == 0
    result = CliRunner().invoke(cli, ["--dir", str(tmp_path), "config", "show"], env=env)
    assert result.exit_code == 130
    assert "interrupted" in result.stderr


def test_a_closed_stdout_pipe_is_not_reported_as_a_bug(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds")}
    assert CliRunner().invoke(cli, ["--dir", str(tmp_path), "init", "--cpu"], env=env).exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "drfc", "--dir", str(tmp_path), "config", "show", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` exiting before drfc writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=20) == 141
    assert "bug" not in err and "Traceback" not in err and "BrokenPipe" not in err
