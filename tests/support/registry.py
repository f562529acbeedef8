"""A loopback Docker registry (Debian's ``docker-registry``) for the Swarm tests.

Swarm resolves a service's image in a registry at every task start, and no outside
registry is reachable here, so the stand-in simapp is pushed under
``127.0.0.1:<port>/…``: the engine only ever talks to this local registry.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackRegistry:
    def __init__(self) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix="drfc-registry-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.pushed: list[str] = []  # local tags made by push(), for the caller to remove

    def start(self, timeout: float = 30) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed (Debian: apt-get install docker-registry)")
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            f"http:\n  addr: {self.host}\n"
        )
        log = open(self.root / "registry.log", "wb")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer on {self.host}: {(self.root / 'registry.log').read_text()}")

    def push(self, image: str, repository: str) -> str:
        """Tag ``image`` as ``<registry>/<repository>`` and push it; returns the new reference."""
        ref = f"{self.host}/{repository}"
        subprocess.run(["docker", "tag", image, ref], check=True, capture_output=True)
        self.pushed.append(ref)
        subprocess.run(["docker", "push", "-q", ref], check=True, capture_output=True, timeout=600)
        return ref

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)
