"""`drfc storage start|stop|status` on the real Docker Engine, with the MinIO stand-in image.

A DRfC home made by ``drfc init --cpu`` in ``tmp_path`` (its ``minio`` profile, with random keys, in
a temporary credentials file) selects the stand-in with ``drfc config set DR_MINIO_IMAGE=drfc-standin``.
Then ``drfc storage start`` must leave a labelled ``drfc-minio`` container on ``sagemaker-local`` with
the alias ``minio``, answering on the host at ``http://localhost:9000`` and to other containers at
``http://minio:9000``, with the working bucket created, and keep objects across stop and start.

Host port 9000 is global: the ``port_9000`` fixture serialises these tests (a lock file shared by
every test process on this machine), removes a ``drfc-minio`` container left from before, and always
stops and removes the one it started. It restores nothing else.
"""

from __future__ import annotations

import json
import os

import docker
import pytest
from tests.support.drfc_home import Home, local_tree

pytestmark = pytest.mark.docker

CONTAINER = "drfc-minio"
NETWORK = "sagemaker-local"
HOST_ENDPOINT = "http://localhost:9000"
BUCKET = "bucket"
PREFIX = "custom_files"
CUSTOM_FILES = ("hyperparameters.json", "model_metadata.json", "reward_function.py")

LIST_FROM_A_CONTAINER = """
import json, os, boto3
s3 = boto3.client("s3", endpoint_url="http://minio:9000", region_name="us-east-1")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket=os.environ["BUCKET"]).get("Contents", [])]
print(json.dumps(keys))
"""


def live(url: str = f"{HOST_ENDPOINT}/minio/health/live") -> int:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status)


# ----------------------------------------------------------------------------- tests


def test_storage_start_runs_minio_for_the_host_and_for_containers(
    home: Home, docker_client: docker.DockerClient, standin_images: dict[str, str]
) -> None:
    outcome = home.json("storage", "start")

    assert outcome["endpoint"] == HOST_ENDPOINT and outcome["bucket"] == BUCKET
    assert (outcome["container"], outcome["created"], outcome["started"]) == (CONTAINER, True, True)
    assert outcome["bucket_created"] is True and outcome["external"] is False and outcome["pulled"] is False

    container = docker_client.containers.get(CONTAINER)
    attrs = container.attrs
    labels = attrs["Config"]["Labels"]
    assert labels["drfc.managed"] == "true" and labels["drfc.kind"] == "storage" and labels["drfc.role"] == "minio"
    assert labels["drfc.home"] == str(home.path)
    assert attrs["Config"]["Image"] == "minio/minio:drfc-standin" and attrs["State"]["Running"] is True
    assert attrs["Config"]["User"] == f"{os.getuid()}:{os.getgid()}"  # root when the tests run as root
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    assert (env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"]) == home.keys
    networks = attrs["NetworkSettings"]["Networks"]
    assert NETWORK in networks and "minio" in (networks[NETWORK]["Aliases"] or [])
    mounts = {m["Destination"]: m["Source"] for m in attrs["Mounts"]}
    assert mounts["/data"] == str(home.path / "data" / "minio")
    ports = attrs["NetworkSettings"]["Ports"]
    assert ports["9000/tcp"][0]["HostPort"] == "9000" and ports["9001/tcp"][0]["HostPort"] == "9001"

    # The host reaches it at http://localhost:9000, with the profile's keys; the bucket exists.
    assert live() == 200
    host = home.s3()
    host.head_bucket(Bucket=BUCKET)
    host.put_object(Bucket=BUCKET, Key="from-host/hello.txt", Body=b"hello from the host")
    assert (home.path / "data" / "minio" / BUCKET).is_dir()

    # A container on sagemaker-local reaches it as http://minio:9000 (what training containers use).
    access, secret = home.keys
    runner = docker_client.containers.run(
        standin_images["base"],
        ["python3", "-c", LIST_FROM_A_CONTAINER],
        detach=True,
        network=NETWORK,
        environment={"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret, "BUCKET": BUCKET},
        labels={"drfc.test": "storage-cli"},
    )
    try:
        status = runner.wait(timeout=120)["StatusCode"]
        output = runner.logs().decode()
    finally:
        runner.remove(force=True)
    assert status == 0, output
    assert json.loads(output.strip().splitlines()[-1]) == ["from-host/hello.txt"]

    # Starting again changes nothing.
    first_id = container.id
    again = home.json("storage", "start")
    assert (again["container"], again["created"], again["started"], again["bucket_created"]) == (
        CONTAINER,
        False,
        False,
        False,
    )
    assert docker_client.containers.get(CONTAINER).id == first_id
    text = home.ok("storage", "start")
    assert f"already running at {HOST_ENDPOINT}, bucket {BUCKET}" in text.stderr
    assert len(docker_client.containers.list(all=True, filters={"label": "drfc.role=minio"})) == 1
    assert host.get_object(Bucket=BUCKET, Key="from-host/hello.txt")["Body"].read() == b"hello from the host"


def test_stop_and_start_keep_the_data_and_status_tells_what_is_there(
    home: Home, docker_client: docker.DockerClient
) -> None:
    home.ok("storage", "start")
    uploaded = json.loads(home.ok("upload-custom-files", "--json").stdout)
    assert uploaded["uploaded"] == 3 and uploaded["target"] == f"s3://{BUCKET}/{PREFIX}/"
    source = local_tree(home.path / "custom_files")

    report = home.json("storage", "status")
    assert report["label"] == "local MinIO" and report["endpoint"] == HOST_ENDPOINT
    assert report["reachable"] is True and report["bucket_exists"] is True
    assert report["objects"] == 3 and report["bytes"] == sum(len(data) for data in source.values())
    assert report["container"] == f"{CONTAINER} (running)"
    table = home.ok("storage", "status").stdout
    assert "local MinIO" in table and HOST_ENDPOINT in table and f"{CONTAINER} (running)" in table
    assert f"{BUCKET} (exists)" in table and "3 (" in table
    listed = json.loads(home.ok("s3", "ls", PREFIX, "--json").stdout)
    assert sorted(o["key"] for o in listed["objects"]) == [f"{PREFIX}/{name}" for name in sorted(CUSTOM_FILES)]

    stopped = home.json("storage", "stop")
    assert stopped == {"stopped": CONTAINER, "data": str(home.path / "data" / "minio")}
    assert docker_client.containers.list(all=True, filters={"name": f"^/{CONTAINER}$"}) == []
    on_disk = home.path / "data" / "minio" / BUCKET / PREFIX
    assert local_tree(on_disk) == source  # objects are files under <home>/data/minio
    assert all(p.stat().st_uid == os.getuid() for p in on_disk.iterdir())

    # Stopped: every S3 command says so, with the command that fixes it.
    for args in (("s3", "ls"), ("upload-custom-files",), ("download-custom-files",)):
        result = home.run(*args)
        assert result.exit_code == 20, (args, result.output)
        lines = result.stderr.splitlines()
        assert lines[0].startswith("error: local MinIO (http://localhost:9000) does not answer")
        assert "hint: start the local store with `drfc storage start`" in lines
    status = home.run("storage", "status", "--json")
    assert status.exit_code == 20
    down = json.loads(status.stdout)
    assert down["reachable"] is False and down["container"] is None and down["exit_code"] == 20
    assert home.json("storage", "stop") == {"stopped": None, "data": str(home.path / "data" / "minio")}
    assert "not running" in home.ok("storage", "stop").stderr

    # Started again from the same data folder: the objects are back, and in sync.
    restarted = home.json("storage", "start")
    assert restarted["created"] is True and restarted["bucket_created"] is False
    again = json.loads(home.ok("upload-custom-files", "--json").stdout)
    assert (again["uploaded"], again["skipped"]) == (0, 3)
    for path in (home.path / "custom_files").iterdir():
        path.unlink()
    down_again = json.loads(home.ok("download-custom-files", "--json").stdout)
    assert down_again["downloaded"] == 3
    assert local_tree(home.path / "custom_files") == source
    assert home.json("storage", "status")["objects"] == 3
