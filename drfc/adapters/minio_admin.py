"""MinIO-only capabilities: the liveness endpoint and the admin API.

boto3 is drfc's one S3 data path. The ``minio`` package is used here alone,
for what plain S3 cannot tell: server version, uptime and drive usage
(``MinioAdmin.info``). It is imported only when ``drfc storage status`` asks,
because it costs about 100 ms of import time.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse


def is_live(endpoint: str, timeout: float = 2.0) -> bool:
    """True when MinIO's liveness endpoint answers 200."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/minio/health/live", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, OSError, ValueError):
        return False


def wait_live(endpoint: str, timeout: float, interval: float = 0.25) -> bool:
    """Poll the liveness endpoint until it answers or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if is_live(endpoint):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def server_info(endpoint: str, access_key: str, secret_key: str, region: str) -> dict[str, Any] | None:
    """MinIO's admin ``info`` (version, uptime, drives), or None when the server does not offer it."""
    try:
        from minio.credentials import StaticProvider
        from minio.minioadmin import MinioAdmin

        url = urlparse(endpoint)
        admin = MinioAdmin(
            endpoint=url.netloc,
            credentials=StaticProvider(access_key, secret_key),
            region=region,
            secure=url.scheme == "https",
        )
        return dict(json.loads(admin.info()))
    except Exception:  # admin API missing, denied or unparsable: status simply shows less
        return None
