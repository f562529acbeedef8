"""Knobs, log helpers, the simapp's error report and a small S3 wrapper shared by both roles."""

from __future__ import annotations

import datetime
import json
import os
import sys
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# A run of spaces inside some "[s3] ..." messages, like the real ones (string continuations there),
# so log parsers written against the stand-in must match with \s+ as they must for the real image.
GAP = " " * 20


def log(message: str) -> None:
    """One log line on stdout, flushed at once (the image also sets PYTHONUNBUFFERED)."""
    print(message, flush=True)


def knob(name: str, default: float) -> float:
    """A numeric STANDIN_* setting from the environment."""
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def fail_mode() -> str:
    """The STANDIN_FAIL failure-injection mode, or "" for a normal run."""
    return os.environ.get("STANDIN_FAIL", "").strip().lower()


def episode_seconds() -> float:
    return knob("STANDIN_EPISODE_SECONDS", 0.2)


def poll_seconds() -> float:
    return knob("STANDIN_POLL_SECONDS", 0.25)


def truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "t", "yes", "y", "on"}


class SimappError(Exception):
    """A failure the simapp reports with its ``simapp_exception`` JSON line."""

    def __init__(
        self,
        message: str,
        *,
        function: str,
        exception_type: str = "simulation_worker.exceptions",
        event_type: str = "system_error",
        error_code: str = "500",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.function = function
        self.exception_type = exception_type
        self.event_type = event_type
        self.error_code = error_code


def report(error: SimappError) -> None:
    """Print the error the way the simapp's ``log_and_exit`` does: a JSON line, then the fault code."""
    document = {
        "simapp_exception": {
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f"),
            "function": error.function,
            "message": error.message,
            "exceptionType": error.exception_type,
            "eventType": error.event_type,
            "errorCode": error.error_code,
        }
    }
    log(json.dumps(document))
    log("ERROR: FAULT_CODE: 0")
    sys.stdout.flush()


def env_endpoint() -> str | None:
    """The S3 endpoint from the environment: S3_ENDPOINT_URL, else AWS_ENDPOINT_URL_S3, else AWS."""
    for name in ("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def strip_s3_uri(key: str) -> str:
    """``s3://bucket/a/b`` -> ``a/b`` (the bucket part is dropped, as the trainer does); a plain key stays."""
    if key.startswith("s3://"):
        return key[len("s3://") :].partition("/")[2]
    return key


class Store:
    """The few S3 calls the simapp makes, with credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."""

    def __init__(self, endpoint: str | None, region: str | None) -> None:
        self.endpoint = endpoint
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region or "us-east-1",
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        )

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        try:
            return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise

    def get_text(self, bucket: str, key: str) -> str | None:
        data = self.get(bucket, key)
        return None if data is None else data.decode("utf-8")

    def get_json(self, bucket: str, key: str) -> Any:
        data = self.get(bucket, key)
        return None if data is None else json.loads(data)

    def put(self, bucket: str, key: str, body: bytes | str) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def put_json(self, bucket: str, key: str, document: Any, **dump: Any) -> None:
        self.put(bucket, key, json.dumps(document, **dump))

    def exists(self, bucket: str, key: str) -> bool:
        """Whether ``key`` exists, by listing (as the simapp does for its sync files)."""
        response = self.client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=50)
        return any(item["Key"] == key for item in response.get("Contents", []))

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)

    def keys(self, bucket: str, prefix: str) -> list[str]:
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return found
