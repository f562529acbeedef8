"""`drfc init`."""

from __future__ import annotations

import os

import click

from drfc.cli.main import App, json_option


@click.command()
@click.option(
    "--cloud",
    type=click.Choice(["local", "aws", "azure", "remote"]),
    default="local",
    show_default=True,
    help="Where models are stored.",
)
@click.option("--gpu/--cpu", "gpu", default=None, help="Simapp build to use. [default: detect]")
@click.option("--force", is_flag=True, help="Replace existing files (each is backed up first).")
@click.option("--region", default=lambda: os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), show_default="us-east-1")
@json_option
@click.pass_obj
def init(app: App, cloud: str, gpu: bool | None, force: bool, region: str) -> None:
    """Create system.env, run.env and custom_files/ in the DRfC home.

    Existing files are kept unless --force, which first saves a timestamped
    backup of each. Without --gpu/--cpu, drfc picks the GPU build when Docker
    has an NVIDIA runtime or nvidia-smi finds a GPU.
    """
    from pathlib import Path

    from drfc.adapters.gpu import detect_gpu
    from drfc.config.load import locate_home
    from drfc.config.schema import Cloud
    from drfc.core.init import InitOptions, initialise

    home = locate_home(app.options.home, os.environ)
    home.mkdir(parents=True, exist_ok=True)
    options = InitOptions(home, Cloud(cloud), gpu, force, region, app.options.experiment)
    result = initialise(options, detect_gpu)
    ui = app.ui
    if ui.json_mode:
        ui.json(result.to_dict())
        return
    for path in result.written:
        ui.success(f"wrote {_rel(path, home)}")
    for path in result.backups:
        ui.info(f"kept a backup: {_rel(path, home)}")
    for path in result.kept:
        ui.info(f"kept existing {_rel(path, home)} (use --force to replace it; a backup is made)")
    ui.info(f"simapp image tag: {result.simapp_version} ({result.gpu_reason})")
    if result.profile_created:
        ui.success(f"created AWS profile {result.profile_created} for the local store")
    ui.info("")
    ui.info("Next steps:")
    where = "" if home == Path.cwd().resolve() else f" --dir {home}"
    ui.info("  1. edit custom_files/reward_function.py, model_metadata.json and hyperparameters.json")
    ui.info(f"  2. drfc{where} config validate")
    ui.info(f"  3. drfc{where} start-training")


def _rel(path: os.PathLike[str], home: os.PathLike[str]) -> str:
    return os.path.relpath(path, home)
