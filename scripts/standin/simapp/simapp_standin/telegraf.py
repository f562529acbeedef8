"""Optional episode points for Telegraf (UDP line protocol), sent when TELEGRAF_HOST is set."""

from __future__ import annotations

import os
import socket
import time


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(" ", "\\ ").replace(",", "\\,").replace("=", "\\=")


def send(measurement: str, tags: dict[str, str], fields: dict[str, float]) -> None:
    """One point; errors are ignored, as metrics must never break a run."""
    host = os.environ.get("TELEGRAF_HOST", "").strip()
    if not host:
        return
    port = int(os.environ.get("TELEGRAF_PORT", "") or 8092)
    tag_text = ",".join(f"{_tag(k)}={_tag(v)}" for k, v in sorted(tags.items()))
    field_text = ",".join(f"{k}={float(v)}" for k, v in sorted(fields.items()))
    line = f"{measurement},{tag_text} {field_text} {time.time_ns()}\n"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(line.encode(), (host, port))
    except OSError:
        pass
