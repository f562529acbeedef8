"""The stand-in images work the way the rest of the suite relies on.

* ``drfc-standin/base``: python3 with boto3 inside a container reaches an S3 endpoint.
* ``minio/minio:drfc-standin``: started the way ``drfc storage start`` starts MinIO, it serves S3 to
  the host and, as ``http://minio:9000``, to containers on its network, checks credentials, answers
  MinIO's health endpoints and keeps its data across a container stop/start.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest
from botocore.exceptions import ClientError
from tests.support.minio_standin import http_status, run_minio, wait_live
from tests.support.s3server import S3Server, free_port

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.s3]

LABELS = {"drfc.test": "1"}
ROOT_USER = "standin-user"
ROOT_PASSWORD = "standin-password-42"

PUT_OBJECT = """
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name="us-east-1")
s3.put_object(Bucket=os.environ["BUCKET"], Key=os.environ["KEY"], Body=os.environ["BODY"].encode())
print("put", os.environ["KEY"])
"""

READ_THEN_PUT = """
import os, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name="us-east-1")
print("read", s3.get_object(Bucket=os.environ["BUCKET"], Key="from-host.txt")["Body"].read().decode())
s3.put_object(Bucket=os.environ["BUCKET"], Key="from-container.txt", Body=b"written in a container")
"""


def run_python(client: docker.DockerClient, image: str, code: str, **kwargs: Any) -> str:
    """Run ``python3 -c code`` in a throw-away container; return its output, fail on a non-zero exit."""
    container = client.containers.run(image, ["python3", "-c", code], detach=True, labels=LABELS, **kwargs)
    try:
        status = container.wait(timeout=120)["StatusCode"]
        output = container.logs().decode()
    finally:
        container.remove(force=True)
    assert status == 0, output
    return output


def s3_client(endpoint: str, access_key: str = ROOT_USER, secret_key: str = ROOT_PASSWORD) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )


def test_base_image_runs_boto3_against_the_s3_server(
    docker_client: docker.DockerClient, standin_images: dict[str, str], s3: S3Server
) -> None:
    host = boto3.client("s3", endpoint_url=s3.endpoint_url)
    host.create_bucket(Bucket="standin-base")

    output = run_python(
        docker_client,
        standin_images["base"],
        PUT_OBJECT,
        network_mode="host",  # the S3 server listens on the host's 127.0.0.1
        environment={
            **s3.client_env(),
            "S3_ENDPOINT_URL": s3.endpoint_url,
            "BUCKET": "standin-base",
            "KEY": "from-container.txt",
            "BODY": "hello from the base image",
        },
    )

    assert "put from-container.txt" in output
    body = host.get_object(Bucket="standin-base", Key="from-container.txt")["Body"].read()
    assert body == b"hello from the base image"


@pytest.fixture
def network(docker_client: docker.DockerClient) -> Iterator[Any]:
    net = docker_client.networks.create(f"drfc-test-{uuid.uuid4().hex[:10]}", driver="bridge", labels=LABELS)
    yield net
    net.reload()
    for container in net.containers:
        container.remove(force=True)
    net.remove()


def test_minio_standin_serves_s3_and_keeps_data_across_restart(
    docker_client: docker.DockerClient, standin_images: dict[str, str], network: Any, tmp_path: Path
) -> None:
    data = tmp_path / "minio"
    data.mkdir()
    api_port, console_port = free_port(), free_port()
    minio = run_minio(
        docker_client,
        standin_images["minio"],
        name=f"drfc-test-minio-{uuid.uuid4().hex[:10]}",
        network=network.name,
        user=ROOT_USER,
        password=ROOT_PASSWORD,
        labels=LABELS,
        ports={"9000/tcp": ("127.0.0.1", api_port), "9001/tcp": ("127.0.0.1", console_port)},
        volumes={str(data): {"bind": "/data", "mode": "rw"}},
    )
    wait_live(minio, api_port)
    endpoint = f"http://127.0.0.1:{api_port}"
    assert http_status(f"{endpoint}/minio/health/ready") == 200
    assert http_status(f"http://127.0.0.1:{console_port}/") == 200

    # S3 from the host, with MinIO's root credentials only.
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket="bucket")
    s3.put_object(Bucket="bucket", Key="from-host.txt", Body=b"written on the host", ContentType="text/plain")
    with pytest.raises(ClientError) as wrong_key:
        s3_client(endpoint, access_key="not-the-root-user").list_buckets()
    assert wrong_key.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    with pytest.raises(ClientError) as wrong_secret:
        s3_client(endpoint, secret_key="not-the-password").list_buckets()
    assert wrong_secret.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    # S3 from another container on the same network, as http://minio:9000.
    output = run_python(
        docker_client,
        standin_images["base"],
        READ_THEN_PUT,
        network=network.name,
        environment={
            "AWS_ACCESS_KEY_ID": ROOT_USER,
            "AWS_SECRET_ACCESS_KEY": ROOT_PASSWORD,
            "S3_ENDPOINT_URL": "http://minio:9000",
            "BUCKET": "bucket",
        },
    )
    assert "read written on the host" in output

    # Stop (SIGTERM is handled: a clean, quick exit) and start again: the data is still there.
    started = time.monotonic()
    minio.stop(timeout=20)
    assert time.monotonic() - started < 10
    minio.reload()
    assert minio.attrs["State"]["ExitCode"] == 0, minio.logs().decode()
    assert (data / "bucket").is_dir(), "buckets are directories under /data"
    minio.start()
    wait_live(minio, api_port)

    s3 = s3_client(endpoint)
    assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["bucket"]
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="bucket")["Contents"])
    assert keys == ["from-container.txt", "from-host.txt"]
    restored = s3.get_object(Bucket="bucket", Key="from-host.txt")
    assert restored["Body"].read() == b"written on the host"
    assert restored["ContentType"] == "text/plain"
    assert s3.get_object(Bucket="bucket", Key="from-container.txt")["Body"].read() == b"written in a container"


def test_docker_cleanup_removes_only_new_drfc_labelled_objects(
    docker_client: docker.DockerClient, standin_images: dict[str, str], docker_cleanup: Any
) -> None:
    suffix = uuid.uuid4().hex[:10]
    network = docker_client.networks.create(f"drfc-test-{suffix}", labels=LABELS)
    volume = docker_client.volumes.create(f"drfc-test-{suffix}", labels=LABELS)
    unlabelled = docker_client.volumes.create(f"unlabelled-test-{suffix}")
    # No label of its own: it inherits drfc.standin.* from the stand-in image, which counts.
    container = docker_client.containers.create(standin_images["base"], ["sleep", "60"], network=network.name)
    container.start()
    try:
        removed = docker_cleanup.remove_new()

        assert container.id in removed["container"]
        assert network.id in removed["network"]
        assert volume.name in removed["volume"]
        assert not docker_client.containers.list(all=True, filters={"id": container.id})
        assert not docker_client.networks.list(ids=[network.id])
        assert unlabelled.name not in removed["volume"]
        assert docker_client.volumes.get(unlabelled.name)
    finally:
        unlabelled.remove(force=True)


@pytest.mark.swarm
def test_docker_cleanup_removes_services_and_their_tasks(
    docker_client: docker.DockerClient, standin_images: dict[str, str], docker_cleanup: Any
) -> None:
    service = docker_client.services.create(
        standin_images["base"],
        ["sleep", "600"],
        name=f"drfc-test-{uuid.uuid4().hex[:10]}",
        labels=LABELS,
        container_labels=LABELS,
        stop_grace_period=1_000_000_000,  # ns; `sleep` as PID 1 ignores SIGTERM
    )
    deadline = time.monotonic() + 60
    while not [task for task in service.tasks() if task["Status"]["State"] == "running"]:
        assert time.monotonic() < deadline, f"service task did not start: {service.tasks()}"
        time.sleep(0.5)

    removed = docker_cleanup.remove_new()

    assert service.id in removed["service"]
    assert not docker_client.services.list(filters={"id": service.id})
    tasks = docker_client.containers.list(all=True, filters={"label": f"com.docker.swarm.service.id={service.id}"})
    assert not tasks
