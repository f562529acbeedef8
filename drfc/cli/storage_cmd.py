"""`drfc storage start|stop|status` and `drfc s3 ls`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from drfc.cli.main import App, json_option

if TYPE_CHECKING:
    from drfc.core.storage_service import StartOutcome


@click.group()
def storage() -> None:
    """The local MinIO store (DR_CLOUD=local or azure)."""


def ensure_storage(app: App) -> StartOutcome:
    """Start the managed MinIO if needed; shared by `storage start` and `start-training`."""
    from drfc.adapters.minio_admin import wait_live
    from drfc.cli.render import PullBar
    from drfc.core.storage_service import local_target, start_storage

    cfg = app.config()
    with PullBar(app.ui, cfg.minio_image) as bar:
        return start_storage(
            cfg,
            app.docker(),
            app.store(local_target(cfg)),
            say=app.ui.step,
            reporter=bar,
            wait_live=wait_live,
        )


@storage.command()
@json_option
@click.pass_obj
def start(app: App) -> None:
    """Start MinIO (pulling its image if needed), wait until it answers, create the bucket."""
    outcome = ensure_storage(app)
    cfg = app.config()
    if app.ui.json_mode:
        app.ui.json({"endpoint": cfg.s3_endpoint_host, "bucket": cfg.settings.local_s3_bucket, **outcome.to_dict()})
        return
    state = "already running" if not (outcome.started or outcome.external) else "running"
    app.ui.success(f"local store {state} at {cfg.s3_endpoint_host}, bucket {cfg.settings.local_s3_bucket}")


@storage.command()
@json_option
@click.pass_obj
def stop(app: App) -> None:
    """Stop the managed MinIO. Its data under data/minio is kept."""
    from drfc.core.storage_service import require_managed, stop_storage

    cfg = app.config()
    require_managed(cfg)
    stopped = stop_storage(app.docker())
    if app.ui.json_mode:
        app.ui.json({"stopped": stopped, "data": str(cfg.minio_data_dir)})
    elif stopped:
        app.ui.success(f"stopped {stopped}; data kept in {cfg.minio_data_dir}")
    else:
        app.ui.info("the local store is not running")


@storage.command()
@json_option
@click.pass_obj
def status(app: App) -> None:
    """Whether the store answers, the bucket, its object count and size."""
    from drfc.adapters.minio_admin import server_info
    from drfc.cli.render import human_bytes
    from drfc.core.storage_service import local_target, storage_status

    cfg = app.config()
    report = storage_status(
        cfg, app.docker if cfg.uses_managed_minio else None, app.store(local_target(cfg)), info=server_info
    )
    if app.ui.json_mode:
        app.ui.json(report.to_dict())
    else:
        rows = [
            ("store", report.label),
            ("endpoint", report.endpoint or "AWS default"),
            ("reachable", "yes" if report.reachable else f"no ({report.problem})"),
            ("container", report.container or "—"),
            ("bucket", f"{report.bucket} ({_bucket_state(report.bucket_exists)})"),
            ("objects", "—" if report.objects is None else f"{report.objects} ({human_bytes(report.bytes or 0)})"),
        ]
        if report.server:
            rows.append(("server", report.server))
        app.ui.table(("", ""), rows, title="storage")
    if not report.reachable:
        raise click.exceptions.Exit(report.exit_code)


def _bucket_state(exists: bool | None) -> str:
    return "unknown" if exists is None else "exists" if exists else "missing"


@click.group()
def s3() -> None:
    """Look into the working bucket."""


@s3.command(name="ls")
@click.argument("prefix", default="")
@click.option("-r", "--recursive", is_flag=True, help="List every object below PREFIX.")
@json_option
@click.pass_obj
def ls(app: App, prefix: str, recursive: bool) -> None:
    """List PREFIX in the working bucket (folders first, like `aws s3 ls`)."""
    from drfc.cli.render import human_bytes
    from drfc.core.storage_service import local_target, split_listing

    cfg = app.config()
    folder = prefix.strip("/")  # "", "/", "a", "a/" and "/a/" all name a folder (or the bucket root)
    listed = app.store(local_target(cfg)).list(folder, folder=bool(folder))
    folders, objects = ([], listed) if recursive else split_listing(listed, folder)
    if app.ui.json_mode:
        app.ui.json(
            {
                "bucket": cfg.settings.local_s3_bucket,
                "prefix": folder,
                "folders": folders,
                "objects": [{"key": o.key, "size": o.size, "last_modified": o.last_modified} for o in objects],
            }
        )
        return
    rows = [("", "PRE", f) for f in folders]
    rows += [(str(o.last_modified or "")[:19], human_bytes(o.size), o.key) for o in objects]
    title = f"s3://{cfg.settings.local_s3_bucket}/{folder + '/' if folder else ''}"
    app.ui.table(("Modified", "Size", "Key"), rows, title=title)
