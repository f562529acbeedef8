"""The Robomaker's network services: a web video server on 8080 and, with a GUI, VNC on 5900."""

from __future__ import annotations

import contextlib
import html
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simapp_standin.media import jpeg

TOPICS = (
    "/racecar/deepracer/kvs_stream",
    "/racecar/camera/zed/rgb/image_rect_color",
    "/racecar/main_camera/zed/rgb/image_rect_color",
    "/sub_camera/zed/rgb/image_rect_color",
)
BOUNDARY = "standinframe"
FRAME_SECONDS = 0.1


def frame_size(query: dict[str, list[str]]) -> tuple[int, int]:
    def number(name: str, default: int, limit: int) -> int:
        try:
            return max(8, min(limit, int(query.get(name, [default])[0])))
        except ValueError:
            return default

    return number("width", 64, 640), number("height", 48, 480)


class VideoHandler(BaseHTTPRequestHandler):
    """``GET /`` lists the topics; ``/stream`` serves MJPEG; ``/snapshot`` one JPEG."""

    server_version = "standin-web-video-server/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def send_text(self, status: int, content_type: str, text: str) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        topic = query.get("topic", [""])[0]
        if url.path in ("/", "/index.html"):
            items = "".join(
                f'<li><a href="/stream_viewer?topic={html.escape(t)}">{html.escape(t)}</a> '
                f'(<a href="/stream?topic={html.escape(t)}">stream</a>, '
                f'<a href="/snapshot?topic={html.escape(t)}">snapshot</a>)</li>'
                for t in TOPICS
            )
            self.send_text(
                200,
                "text/html; charset=utf-8",
                f"<html><head><title>Available topics</title></head><body><h1>Available ROS image topics"
                f"</h1><ul>{items}</ul></body></html>",
            )
        elif url.path in ("/stream", "/snapshot", "/stream_viewer") and not topic.startswith("/"):
            self.send_text(404, "text/plain", "No image topic given (?topic=/a/b)\n")
        elif url.path == "/stream_viewer":
            src = html.escape(f"/stream?{url.query}")
            self.send_text(200, "text/html; charset=utf-8", f'<html><body><img src="{src}"></body></html>')
        elif url.path == "/snapshot":
            data = jpeg(*frame_size(query))
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif url.path == "/stream":
            self.stream(frame_size(query))
        else:
            self.send_text(404, "text/plain", "Not found\n")

    def stream(self, size: tuple[int, int]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        started = time.monotonic()
        try:
            while True:
                grey = int(128 + 100 * math.sin(time.monotonic() - started))
                data = jpeg(*size, grey=grey)
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                self.wfile.write(head.encode() + data + b"\r\n")
                self.wfile.flush()
                time.sleep(FRAME_SECONDS)
        except OSError:
            return  # the viewer went away


def serve_video(port: int = 8080) -> None:
    server = ThreadingHTTPServer(("0.0.0.0", port), VideoHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="web-video", daemon=True).start()


def serve_vnc(port: int = 5900) -> None:
    """Enough of a VNC server to be found: it greets with the RFB version and hangs up."""
    listener = socket.create_server(("0.0.0.0", port), reuse_port=False)

    def accept() -> None:
        while True:
            client, _ = listener.accept()
            with client, contextlib.suppress(OSError):
                client.sendall(b"RFB 003.008\n")

    threading.Thread(target=accept, name="vnc", daemon=True).start()
