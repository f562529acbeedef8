"""A second S3 server of a test's own: one it may stop and restart, or one that checks credentials."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest

from tests.support.s3server import REGION, S3Server


@contextmanager
def second_server() -> Iterator[S3Server]:
    """A fresh server (it forgets everything when stopped), stopped at the end.

    One that cannot start skips the test, or fails it under CI=true like any missing component.
    """
    from tests.conftest import _unavailable

    server = S3Server()
    try:
        server.start()
    except RuntimeError as exc:
        _unavailable(f"a second S3 server could not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def auth_checking_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[S3Server, str]]:
    """A server that checks credentials, and an access key id it knows (whose secret the test never learns)."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "2")  # the server lets the two IAM calls below through
    with second_server() as server:
        monkeypatch.delenv("INITIAL_NO_AUTH_ACTION_COUNT")
        iam = boto3.client(
            "iam",
            endpoint_url=server.endpoint_url,
            region_name=REGION,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="drfc")
        yield server, iam.create_access_key(UserName="drfc")["AccessKey"]["AccessKeyId"]
