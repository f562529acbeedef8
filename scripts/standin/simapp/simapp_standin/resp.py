"""A few words of the Redis protocol: the channel Robomaker workers push episodes to the trainer on.

The real trainer runs redis-server on port 6379 and the workers publish their experience to it, on a
channel named after the model prefix. Here the trainer answers PING and PUBLISH itself, and the
workers send one PUBLISH per finished episode, so the trainer advances exactly when the workers have
played an iteration's episodes and the network path between the containers is exercised.
"""

from __future__ import annotations

import json
import queue
import socket
import socketserver
import threading
from typing import Any

PORT = 6379
TIMEOUT = 3.0  # seconds; a killed trainer's address just drops packets


def encode(*words: str) -> bytes:
    """A RESP array of bulk strings."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode("utf-8")
        parts.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(parts)


def read_command(stream: Any) -> list[str] | None:
    """One command from a client: a RESP array, or an inline command line. None at end of stream."""
    line = stream.readline()
    if not line:
        return None
    line = line.rstrip(b"\r\n")
    if not line.startswith(b"*"):
        return line.decode("utf-8", "replace").split()
    words: list[str] = []
    for _ in range(int(line[1:])):
        header = stream.readline().rstrip(b"\r\n")
        if not header.startswith(b"$"):
            raise ValueError(f"bad RESP header {header!r}")
        data = stream.read(int(header[1:]) + 2)[:-2]
        words.append(data.decode("utf-8"))
    return words


class EpisodeServer:
    """Port 6379 in the trainer: PING answers PONG, PUBLISH on the model's channel queues an episode."""

    def __init__(self, channel: str, port: int = PORT) -> None:
        self.channel = channel
        self.episodes: queue.Queue[dict[str, Any]] = queue.Queue()
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    try:
                        words = read_command(self.rfile)
                    except (ValueError, OSError):
                        return
                    if words is None:
                        return
                    reply = server.answer(words)
                    try:
                        self.wfile.write(reply)
                    except OSError:
                        return
                    if words and words[0].upper() == "QUIT":
                        return

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server(("0.0.0.0", port), Handler)

    def answer(self, words: list[str]) -> bytes:
        command = words[0].upper() if words else ""
        if command == "PING":
            return b"+PONG\r\n"
        if command == "QUIT":
            return b"+OK\r\n"
        if command == "PUBLISH" and len(words) == 3:
            if words[1] != self.channel:
                return b":0\r\n"
            try:
                self.episodes.put(json.loads(words[2]))
            except json.JSONDecodeError:
                return b"-ERR message is not JSON\r\n"
            return b":1\r\n"
        return f"-ERR unknown command '{command}'\r\n".encode()

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="redis", daemon=True).start()


class EpisodeLink:
    """A worker's connection to the trainer's port 6379."""

    def __init__(self, host: str, port: int = PORT) -> None:
        self.host, self.port = host, port
        self._sock: socket.socket | None = None
        self._stream: Any = None

    def _connect(self) -> None:
        self._sock = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        self._stream = self._sock.makefile("rb")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._stream = None

    def call(self, *words: str) -> str:
        """Send one command, return the reply line; reconnects once after a broken connection."""
        for attempt in range(2):
            try:
                if self._sock is None:
                    self._connect()
                assert self._sock is not None
                self._sock.sendall(encode(*words))
                reply = self._stream.readline()
                if not reply:
                    raise ConnectionError("connection closed by the trainer")
                return str(reply.decode("utf-8").rstrip("\r\n"))
            except OSError:
                self.close()
                if attempt:
                    raise
        raise ConnectionError("unreachable")

    def ping(self) -> bool:
        return self.call("PING") == "+PONG"

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.call("PUBLISH", channel, json.dumps(message))
