"""The S3 stores a configuration points at, and the drfc-managed local MinIO.

For ``DR_CLOUD=local`` and ``azure`` drfc runs MinIO itself: one container on
the ``sagemaker-local`` network with the alias ``minio`` (so training
containers reach ``http://minio:9000``), ports 9000/9001 on the host, data
under ``<home>/data/minio``. Starting it is idempotent and ends only when
MinIO answers and the working bucket exists, which DRfC never checked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drfc.config.customfiles import validate_custom_files
from drfc.config.model import Config
from drfc.config.schema import Cloud
from drfc.core.containers import ContainerInfo, ContainerSpec, Mount, PortMap, labels
from drfc.core.credentials import credentials_file, profile_keys
from drfc.core.storage import RemoteObject, S3Target, SyncProgress, SyncResult
from drfc.errors import (
    ConfigError,
    ConflictError,
    CustomFilesError,
    DrfcError,
    NotFoundError,
    RunFailedError,
    S3CredentialsError,
)

if TYPE_CHECKING:
    from drfc.adapters.docker_engine import DockerEngine
    from drfc.adapters.s3 import S3Store
    from drfc.core.containers import PullReporter

MINIO_CONTAINER = "drfc-minio"
MINIO_ALIAS = "minio"
START_HINT = "start the local store with `drfc storage start`"
LIVE_TIMEOUT = 60.0


def local_target(cfg: Config) -> S3Target:
    """The working bucket (custom files, models, metrics) as seen from this machine."""
    s = cfg.settings
    if cfg.uses_managed_minio:
        return S3Target(
            s.local_s3_bucket, cfg.s3_endpoint_host, s.aws_app_region, s.local_s3_profile, "local MinIO", START_HINT
        )
    if s.cloud == Cloud.REMOTE:
        return S3Target(
            s.local_s3_bucket,
            cfg.s3_endpoint_host,
            s.aws_app_region,
            s.local_s3_profile,
            "remote MinIO",  # messages add the endpoint themselves: "remote MinIO (http://nas:9000)"
            "check DR_REMOTE_MINIO_URL in system.env and that the server is up",
        )
    profile = None if s.local_s3_profile == "default" else s.local_s3_profile
    return S3Target(s.local_s3_bucket, None, s.aws_app_region, profile, "AWS S3", "check your network and AWS region")


def local_keys(cfg: Config) -> tuple[str, str]:
    """MinIO root credentials: the keys of DR_LOCAL_S3_PROFILE in the AWS credentials file."""
    profile = cfg.settings.local_s3_profile
    keys = profile_keys(profile)
    if keys is None:
        raise S3CredentialsError(
            f"AWS profile '{profile}' has no access keys in {credentials_file()}",
            hint="`drfc init` creates it for the local store, or run `aws configure --profile " + profile + "`",
        )
    return keys


def minio_spec(cfg: Config, access_key: str, secret_key: str) -> ContainerSpec:
    """The managed MinIO container; it runs as the invoking user so data files stay theirs."""
    user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None
    return ContainerSpec(
        name=MINIO_CONTAINER,
        image=cfg.minio_image,
        command=("server", "/data", "--console-address", ":9001"),
        labels=labels("storage", "minio", home=str(cfg.home)),
        environment={"MINIO_ROOT_USER": access_key, "MINIO_ROOT_PASSWORD": secret_key},
        network=cfg.network,
        aliases=(MINIO_ALIAS,),
        ports=(PortMap(9000, 9000), PortMap(9001, 9001)),
        mounts=(Mount(str(cfg.minio_data_dir), "/data"),),
        user=user,
        restart="unless-stopped",
    )


def require_managed(cfg: Config) -> None:
    if not cfg.uses_managed_minio:
        target = local_target(cfg)
        where = f"{target.label} at {target.endpoint_url}" if target.endpoint_url else target.label
        raise ConfigError(
            f"DR_CLOUD={cfg.settings.cloud.value} keeps models in {where}; drfc runs no store for it",
            hint="the local store is only used with DR_CLOUD=local or azure",
        )


def managed_container(engine: DockerEngine) -> ContainerInfo | None:
    found = engine.find({"drfc.kind": "storage", "drfc.role": "minio"})
    return found[0] if found else None


@dataclass
class StartOutcome:
    container: str | None
    created: bool
    started: bool
    external: bool
    bucket_created: bool
    pulled: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def start_storage(
    cfg: Config,
    engine: DockerEngine,
    store: S3Store,
    *,
    say: Callable[[str], None],
    reporter: PullReporter | None = None,
    wait_live: Callable[[str, float], bool],
) -> StartOutcome:
    """Bring the managed MinIO up (idempotent) and make sure the working bucket exists."""
    require_managed(cfg)
    access, secret = local_keys(cfg)
    endpoint = cfg.s3_endpoint_host or ""
    outcome = StartOutcome(None, created=False, started=False, external=False, bucket_created=False, pulled=False)
    existing = managed_container(engine)
    if existing is not None and existing.running:
        outcome.container = existing.name
    elif existing is not None:
        say(f"starting the local store ({existing.name})")
        engine.start(existing.id)
        outcome.container, outcome.started = existing.name, True
    else:
        owner = engine.port_owner(9000)
        if wait_live(endpoint, 0.0):
            say(f"a MinIO not managed by drfc answers at {endpoint} ({owner or 'outside Docker'}); using it")
            outcome.external = True
        elif owner is not None:
            raise ConflictError(
                f"host port 9000 is used by container {owner}, which does not answer as MinIO",
                hint=f"stop {owner} or free port 9000, then run `drfc storage start` again",
            )
        else:
            engine.ensure_network(cfg.network, overlay=cfg.backend == "swarm", labels={})
            spec = minio_spec(cfg, access, secret)
            if not engine.image_present(spec.image):
                say(f"pulling {spec.image}")
                engine.pull(spec.image, reporter)
                outcome.pulled = True
            cfg.minio_data_dir.mkdir(parents=True, exist_ok=True)
            say(f"starting the local store ({spec.image}, data in {cfg.minio_data_dir})")
            engine.run(spec)
            outcome.container, outcome.created, outcome.started = spec.name, True, True
    if not wait_live(endpoint, LIVE_TIMEOUT):
        detail = ""
        if outcome.container:
            try:
                tail = engine.logs(outcome.container, tail=15).strip()
                detail = f"; its last log lines:\n{tail}" if tail else ""
            except NotFoundError:  # removed behind our back: say so rather than fail on the logs
                detail = f"; its container {outcome.container} no longer exists (removed by something else?)"
        raise RunFailedError(
            f"the local store did not answer at {endpoint} within {LIVE_TIMEOUT:.0f}s{detail}",
            hint="see `docker logs " + (outcome.container or MINIO_CONTAINER) + "`",
        )
    outcome.bucket_created = store.ensure_bucket()
    if outcome.bucket_created:
        say(f"created bucket {cfg.settings.local_s3_bucket}")
    return outcome


def stop_storage(engine: DockerEngine) -> str | None:
    """Stop and remove the managed MinIO container; its data folder is never touched."""
    existing = managed_container(engine)
    if existing is None:
        return None
    engine.stop(existing.id, timeout=10)
    engine.remove(existing.id)
    return existing.name


def upload_custom_files(
    cfg: Config,
    store: S3Store,
    *,
    delete: bool = False,
    dry_run: bool = False,
    validate: bool = True,
    progress: SyncProgress | None = None,
) -> SyncResult:
    """Sync custom_files/ to ``<bucket>/<DR_LOCAL_S3_CUSTOM_FILES_PREFIX>/``, refusing invalid files."""
    folder = cfg.custom_files_dir
    if not folder.is_dir():
        raise NotFoundError(
            f"no custom files folder at {folder}", hint="run `drfc init` or `drfc download-custom-files`"
        )
    if validate:
        problems = [p for p in validate_custom_files(folder) if p.is_error]
        if problems:
            raise CustomFilesError(
                f"custom files in {folder} are invalid; nothing was uploaded",
                problems=[p.render(cfg.home) for p in problems],
                hint="fix them, or pass --no-validate to upload anyway",
            )
    return store.sync_up(
        folder, cfg.settings.local_s3_custom_files_prefix, delete=delete, dry_run=dry_run, progress=progress
    )


def split_listing(objects: list[RemoteObject], prefix: str) -> tuple[list[str], list[RemoteObject]]:
    """Folders and files directly under ``prefix``, as `aws s3 ls` shows them."""
    base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    folders: dict[str, None] = {}
    files: list[RemoteObject] = []
    for obj in objects:
        rest = obj.key[len(base) :] if obj.key.startswith(base) else obj.key
        if "/" in rest:
            folders[base + rest.split("/", 1)[0] + "/"] = None
        else:
            files.append(obj)
    return list(folders), files


@dataclass
class StorageReport:
    label: str
    endpoint: str | None
    bucket: str
    reachable: bool
    problem: str | None = None
    exit_code: int = 0
    container: str | None = None
    bucket_exists: bool | None = None
    objects: int | None = None
    bytes: int | None = None
    server: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def storage_status(
    cfg: Config,
    engine: Callable[[], DockerEngine] | None,
    store: S3Store,
    *,
    info: Callable[[str, str, str, str], dict[str, Any] | None] | None = None,
) -> StorageReport:
    """What `drfc storage status` shows; a failure to reach anything is reported, not raised."""
    target = store.target
    report = StorageReport(target.label, target.endpoint_url, target.bucket, reachable=False)
    if engine is not None:
        try:
            found = managed_container(engine())
            if found is not None:
                report.container = f"{found.name} ({found.status})"
        except DrfcError as exc:
            report.container = f"unknown: {exc.message}"
    try:
        report.bucket_exists = store.bucket_exists()
        report.reachable = True
        if report.bucket_exists:
            objects = store.list("", folder=False)
            report.objects = len(objects)
            report.bytes = sum(o.size for o in objects)
    except DrfcError as exc:
        report.problem = exc.message
        report.exit_code = exc.exit_code
    if report.reachable and info is not None and cfg.uses_managed_minio:
        try:
            access, secret = local_keys(cfg)
        except DrfcError:
            return report
        data = info(target.endpoint_url or "", access, secret, target.region)
        if data:
            servers = data.get("servers") or [{}]
            version = servers[0].get("version", "?")
            report.server = f"MinIO {version}, mode {data.get('mode', '?')}"
    return report
