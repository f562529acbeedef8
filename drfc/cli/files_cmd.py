"""`drfc upload-custom-files` and `drfc download-custom-files`."""

from __future__ import annotations

import click

from drfc.cli.main import App, json_option

_delete = click.option("--delete", is_flag=True, help="Also delete files that exist only at the destination.")
_dry_run = click.option("--dry-run", is_flag=True, help="List every planned transfer and deletion; change nothing.")


@click.command("upload-custom-files")
@_delete
@_dry_run
@click.option("--no-validate", is_flag=True, help="Upload even if the custom files fail validation.")
@json_option
@click.pass_obj
def upload_custom_files(app: App, delete: bool, dry_run: bool, no_validate: bool) -> None:
    """Sync custom_files/ (or the experiment's) to the working bucket.

    Only new and changed files are sent. Files are validated first.
    """
    from drfc.cli.render import SyncBar, sync_summary
    from drfc.core.storage_service import local_target, upload_custom_files

    cfg = app.config()
    target = local_target(cfg)
    destination = f"s3://{target.bucket}/{cfg.settings.local_s3_custom_files_prefix}/"
    with SyncBar(app.ui, "uploading") as bar:
        result = upload_custom_files(
            cfg, app.store(target), delete=delete, dry_run=dry_run, validate=not no_validate, progress=bar
        )
    sync_summary(app.ui, result, direction="upload", source=str(cfg.custom_files_dir), target=destination)


@click.command("download-custom-files")
@_delete
@_dry_run
@json_option
@click.pass_obj
def download_custom_files(app: App, delete: bool, dry_run: bool) -> None:
    """Sync the custom files in the working bucket into custom_files/ (or the experiment's)."""
    from drfc.cli.render import SyncBar, sync_summary
    from drfc.core.storage_service import local_target

    cfg = app.config()
    target = local_target(cfg)
    prefix = cfg.settings.local_s3_custom_files_prefix
    source = f"s3://{target.bucket}/{prefix}/"
    with SyncBar(app.ui, "downloading") as bar:
        result = app.store(target).sync_down(prefix, cfg.custom_files_dir, delete=delete, dry_run=dry_run, progress=bar)
    sync_summary(app.ui, result, direction="download", source=source, target=str(cfg.custom_files_dir))
