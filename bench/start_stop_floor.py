"""The floor of bench/start_stop: bare Docker SDK calls in a fresh process, nothing else.

Run by the bench as ``python -c ...`` with ``start|stop containers|swarm FILE``; prints JSON. A module
of its own (not the bench script) so that its bytecode is cached like that of an installed tool.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    """``start|stop containers|swarm FILE``: bare SDK calls in a fresh process; prints JSON."""
    import docker

    action, backend, path = argv
    began = time.perf_counter()
    client = docker.from_env(timeout=120)
    data = json.loads(Path(path).read_text())
    if action == "start":
        specs = data
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            run = floor_service if backend == "swarm" else floor_container
            ids = list(pool.map(lambda s: run(client, s), specs))
        if backend == "swarm":
            wait_services_running(client, ids)
        print(json.dumps({"ids": ids, "seconds": time.perf_counter() - began}))
        return 0
    ids = data
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        if backend == "swarm":
            list(pool.map(lambda i: floor_remove_service(client, i), ids))
        else:
            list(pool.map(lambda i: client.api.remove_container(i, force=True, v=True), ids))
    while backend == "swarm" and any(
        client.api.containers(all=True, filters={"label": f"com.docker.swarm.service.id={i}"}) for i in ids
    ):
        time.sleep(0.05)  # a removed service's task containers go a moment later
    print(json.dumps({"seconds": time.perf_counter() - began}))
    return 0


def tar_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data64 in files.items():
            data = base64.b64decode(data64)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def floor_container(client: Any, spec: dict[str, Any]) -> str:
    api = client.api
    kwargs: dict[str, Any] = {
        "name": spec["name"],
        "command": spec["command"],
        "hostname": spec["hostname"],
        "environment": spec["environment"],
        "labels": spec["labels"],
        "detach": True,
    }
    host_config: dict[str, Any] = {"network_mode": spec["network"], "init": spec["init"] or None}
    if spec["ports"]:
        kwargs["ports"] = [container for container, _ in spec["ports"]]
        host_config["port_bindings"] = {container: host for container, host in spec["ports"]}
    kwargs["host_config"] = api.create_host_config(**host_config)
    if spec["aliases"]:
        endpoint = api.create_endpoint_config(aliases=spec["aliases"])
        kwargs["networking_config"] = api.create_networking_config({spec["network"]: endpoint})
    container_id = api.create_container(spec["image"], **kwargs)["Id"]
    if spec["files"]:
        api.put_archive(container_id, "/", tar_of(spec["files"]))
    api.start(container_id)
    return str(container_id)


def floor_service(client: Any, spec: dict[str, Any]) -> str:
    import docker.types

    api = client.api
    configs = []
    for path, data64 in spec["files"].items():
        name = f"{spec['name']}-{path.rsplit('/', 1)[-1]}"[:64]
        config = api.create_config(name, base64.b64decode(data64), labels=spec["labels"])
        configs.append(docker.types.ConfigReference(config["ID"], name, filename="/" + path))
    container = docker.types.ContainerSpec(
        image=spec["image"],
        args=spec["command"],
        hostname=spec["hostname"],
        env=spec["environment"],
        labels=spec["labels"],
        init=spec["init"] or None,
        configs=configs or None,
    )
    template = docker.types.TaskTemplate(
        container_spec=container,
        restart_policy=docker.types.RestartPolicy(condition="none"),
        placement=docker.types.Placement(constraints=[spec["placement"]]),
        networks=[docker.types.NetworkAttachmentConfig(target=spec["network"], aliases=spec["aliases"])],
    )
    endpoint = None
    if spec["ports"]:
        endpoint = docker.types.EndpointSpec(ports={host: (c, "tcp", "host") for c, host in spec["ports"]})
    created = api.create_service(
        template,
        name=spec["name"],
        labels=spec["labels"],
        endpoint_spec=endpoint,
        mode=docker.types.ServiceMode("replicated", 1),
    )
    return str(created["ID"])


def wait_services_running(client: Any, ids: list[str]) -> None:
    pending = set(ids)
    while pending:
        for service_id in list(pending):
            tasks = client.api.tasks(filters={"service": service_id})
            if tasks and max(tasks, key=lambda t: t["Version"]["Index"])["Status"]["State"] == "running":
                pending.discard(service_id)
        if pending:
            time.sleep(0.05)


def floor_remove_service(client: Any, service_id: str) -> None:
    """Kill the service's task containers here (Swarm alone takes seconds to), then remove it and its configs."""
    spec = client.api.inspect_service(service_id)["Spec"]
    refs = spec["TaskTemplate"]["ContainerSpec"].get("Configs") or []
    for task in client.api.containers(all=True, filters={"label": f"com.docker.swarm.service.id={service_id}"}):
        client.api.remove_container(task["Id"], force=True)
    client.api.remove_service(service_id)
    for ref in refs:
        while True:
            try:
                client.api.remove_config(ref["ConfigID"])
                break
            except Exception:  # still in use by the task being shut down
                time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
