"""`drfc models list|get|delete|download-logs|import`: models in DeepRacer on AWS (DRoA).

Every command discovers the deployment from ``$DR_DROA_URL/env.js`` and signs in
as ``$DR_DROA_USERNAME``; the password comes from DR_DROA_PASSWORD or a prompt,
and is only needed when no cached sign-in can be used (see drfc.adapters.droa).
`drfc upload --droa` is `drfc models import`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from drfc.cli.main import App, checkpoint_options, json_option

if TYPE_CHECKING:
    from drfc.adapters.droa import DroaClient
    from drfc.core.droa import DroaSite


@click.group()
def models() -> None:
    """Models in DeepRacer on AWS (DR_DROA_URL, DR_DROA_USERNAME)."""


# ------------------------------------------------------------------------------------------------ plumbing


def _site(app: App) -> DroaSite:
    from drfc.adapters.droa import fetch_site
    from drfc.errors import ConfigError

    cfg = app.config()
    url = cfg.settings.droa_url
    if not url:
        raise ConfigError(
            "DR_DROA_URL is not set: drfc does not know your DeepRacer on AWS site",
            hint="`drfc config set DR_DROA_URL=https://<your site>` (the address you open in the browser)",
        )
    site = fetch_site(url)
    app.ui.debug(f"DeepRacer on AWS {site.solution_version or '(version unknown)'} at {site.url}")
    return site


def _client(app: App, site: DroaSite | None = None) -> DroaClient:
    """The signed-in client; asks for the password only if no cached sign-in can be used."""
    from drfc.adapters.droa import DroaClient
    from drfc.errors import ConfigError

    cfg = app.config()
    site = site or _site(app)
    username = cfg.settings.droa_username
    if not username:
        raise ConfigError(
            "DR_DROA_USERNAME is not set",
            hint="`drfc config set DR_DROA_USERNAME=<user name or e-mail>`",
        )

    def password() -> str:
        if cfg.settings.droa_password:
            app.ui.debug("using DR_DROA_PASSWORD")
            return cfg.settings.droa_password
        value = click.prompt(f"DeepRacer on AWS password for {username}", hide_input=True, err=True)
        app.ui.add_secret(value)
        return str(value)

    debug = cfg.settings.droa_debug or app.options.verbose > 0
    return DroaClient(site, username, password=password, debug=(lambda m: app.ui.info(f"droa: {m}")) if debug else None)


def _signed_in(app: App, client: DroaClient) -> None:
    """Get credentials now (so a wrong password fails first) and keep them out of every output."""
    credentials = client.credentials()
    app.ui.add_secret(credentials.secret_key)
    app.ui.add_secret(credentials.session_token)
    if client.credentials_source == "password":
        app.ui.step(f"signed in to {client.site.url} as {client.username}; sign-in cached in {client.cache_file}")


# ------------------------------------------------------------------------------------------------ list / get


@models.command("list")
@json_option
@click.pass_obj
def list_models(app: App) -> None:
    """Your models in DeepRacer on AWS, newest first."""
    from drfc.core.droa import model_row, sorted_models

    client = _client(app)
    _signed_in(app, client)
    found = sorted_models(client.list_models())
    if app.ui.json_mode:
        app.ui.json({"site": client.site.url, "models": found})
        return
    if not found:
        app.ui.info(f"no models in {client.site.url}")
        return
    app.ui.table(("Model ID", "Name", "Status", "Training", "Created"), [model_row(m) for m in found])


@models.command("get")
@click.argument("model_id")
@json_option
@click.pass_obj
def get_model(app: App, model_id: str) -> None:
    """One model: status, track, car, algorithm, action space, import error."""
    from drfc.core.droa import model_details

    client = _client(app)
    _signed_in(app, client)
    model = client.get_model(model_id)
    if app.ui.json_mode:
        app.ui.json(model)
        return
    app.ui.table(("", ""), model_details(model), title=f"model {model_id}")


# ------------------------------------------------------------------------------------------------ delete


@models.command("delete")
@click.argument("model_id")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_obj
def delete_model(app: App, model_id: str, force: bool) -> None:
    """Delete a model (only when it is READY or ERROR); asks first unless -f."""
    from drfc.core.droa import DELETABLE
    from drfc.errors import AbortedError, DroaError

    client = _client(app)
    _signed_in(app, client)
    model = client.get_model(model_id)
    name, status = model.get("name", "?"), model.get("status", "?")
    if status not in DELETABLE:
        raise DroaError(
            f"model {name!r} ({model_id}) is {status}; DeepRacer on AWS deletes models only when READY or ERROR",
            hint=f"wait, then check with `drfc models get {model_id}`",
        )
    if not app.ui.confirm(f"Delete model {name!r} ({model_id}, {status}) from {client.site.url}?", assume_yes=force):
        raise AbortedError(f"model {name!r} was not deleted", hint="pass -f to delete without the question")
    client.delete_model(model_id)
    if app.ui.json_mode:
        app.ui.json({"modelId": model_id, "name": name, "status": "DELETING"})
        return
    app.ui.success(f"deletion of model {name!r} ({model_id}) requested; its status is now DELETING")


# ------------------------------------------------------------------------------------------------ download-logs


@models.command("download-logs")
@click.argument("model_id")
@click.option(
    "-t",
    "--asset-type",
    type=click.Choice(["TRAINING_LOGS", "EVALUATION_LOGS", "VIRTUAL_MODEL", "PHYSICAL_CAR_MODEL", "VIDEOS"]),
    default="TRAINING_LOGS",
    show_default=True,
    help="What to download.",
)
@click.option("--evaluation-id", help="The evaluation (needed for EVALUATION_LOGS).")
@click.option("-o", "--output", type=click.Path(dir_okay=True), help="File or folder to save to.")
@click.option("-f", "--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("--poll-interval", type=float, default=5.0, hidden=True)
@json_option
@click.pass_obj
def download_logs(
    app: App,
    model_id: str,
    asset_type: str,
    evaluation_id: str | None,
    output: str | None,
    force: bool,
    poll_interval: float,
) -> None:
    """Download a model's logs (or another asset) to a local file."""
    from pathlib import Path

    from drfc.adapters.droa import download
    from drfc.cli.render import human_bytes
    from drfc.core.droa import asset_file_name, wait_for_asset
    from drfc.errors import ConflictError, DroaError

    if asset_type == "EVALUATION_LOGS" and not evaluation_id:
        raise click.UsageError("EVALUATION_LOGS needs --evaluation-id")
    client = _client(app)
    _signed_in(app, client)
    with app.ui.status(f"waiting for DeepRacer on AWS to prepare {asset_type}"):
        url = wait_for_asset(lambda: client.asset_url(model_id, asset_type, evaluation_id), interval=poll_interval)
    name = asset_file_name(url, model_id, asset_type)
    path = Path(output) if output else Path(name)
    if path.is_dir():
        path = path / name
    if path.exists() and not force:
        raise ConflictError(f"{path} exists; nothing was downloaded", hint="pass -f to overwrite it, or -o elsewhere")
    size = download(url, path)
    if size == 0:
        raise DroaError(f"DeepRacer on AWS served an empty {asset_type} file for {model_id}")
    if app.ui.json_mode:
        app.ui.json({"modelId": model_id, "assetType": asset_type, "path": str(path), "bytes": size})
        return
    app.ui.success(f"saved {asset_type} of {model_id} to {path} ({human_bytes(size)})")


# ------------------------------------------------------------------------------------------------ import


@models.command("import")
@click.option("-p", "--prefix", help="Model prefix in the working bucket (default: DR_LOCAL_S3_MODEL_PREFIX).")
@checkpoint_options
@click.option("--name", help="Model name in DRoA (default: the upload prefix, made valid).")
@click.option("--description", help="Model description in DRoA (letters, digits, spaces, hyphens).")
@click.option("-d", "--dry-run", is_flag=True, help="Plan and check only: no sign-in, nothing uploaded.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the import is READY or ERROR.")
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="Seconds to wait for the import.")
@click.option("--poll-interval", type=float, default=10.0, hidden=True)
@json_option
@click.pass_obj
def import_model(
    app: App,
    prefix: str | None,
    last: bool,
    best: bool,
    number: int | None,
    name: str | None,
    description: str | None,
    dry_run: bool,
    wait: bool,
    timeout: float,
    poll_interval: float,
) -> None:
    """Import one checkpoint of a trained model into DeepRacer on AWS.

    Builds the layout DRoA reads (training_params.yaml with the track and direction it
    expects, model metadata, reward function, ip/hyperparameters.json, the checkpoint
    and metrics/training/training-*.json), checks everything DRoA would refuse, uploads
    it to the deployment's upload bucket under uploads/models/<uuid>/ and starts the
    import; then waits until the model is READY or ERROR.
    """
    from drfc.cli.upload_cmd import resolve_choice

    import_into_droa(
        app,
        prefix=prefix,
        choice=resolve_choice(best, last, number),
        name=name,
        description=description,
        dry_run=dry_run,
        wait=wait,
        timeout=timeout,
        poll_interval=poll_interval,
    )


def import_into_droa(
    app: App,
    *,
    prefix: str | None,
    choice: str | int,
    name: str | None,
    description: str | None,
    dry_run: bool = False,
    wait: bool = True,
    timeout: float = 3600.0,
    poll_interval: float = 10.0,
) -> None:
    """`drfc models import`, also behind `drfc upload --droa`."""
    from drfc.adapters.s3 import S3Store
    from drfc.cli.render import human_bytes
    from drfc.cli.upload_cmd import progress_bar
    from drfc.core.droa import plan_import, run_import, suggest_model_name, wait_for_model
    from drfc.core.storage import S3Target
    from drfc.core.storage_service import local_target
    from drfc.core.upload import model_source

    cfg = app.config()
    site = _site(app)
    source = model_source(cfg, prefix)
    if name is None:
        basis = (prefix or cfg.settings.upload_s3_prefix).strip("/")
        name = suggest_model_name(basis)
        if name != basis:
            app.ui.info(f"model name {name} (from {basis!r}; pass --name to choose another)")
    source_store = app.store(local_target(cfg))
    plan = plan_import(
        source_store,
        source,
        site=site,
        choice=choice,
        name=name,
        description=description,
        reverse_default=cfg.settings.train_reverse_direction,
    )
    bundle, check = plan.bundle, plan.preflight
    for warning in check.warnings:
        app.ui.warning(warning)
    if dry_run:
        if app.ui.json_mode:
            app.ui.json({"dry_run": True, **plan.to_dict(), "items": [i.to_dict() for i in bundle.items]})
        else:
            rows = [(i.target, human_bytes(i.size), i.source_key or "generated") for i in bundle.items]
            app.ui.table(("File", "Size", "From"), rows, title=f"dry run: {source.prefix} → {site.url}")
            verdict = "passes" if check.ok else "fails"
            app.ui.info(
                f"dry run: checkpoint {bundle.checkpoint} as {name!r}, {len(rows)} files "
                f"({human_bytes(bundle.total_bytes())}), track {check.track} {check.direction}; "
                f"the pre-flight check {verdict}; nothing was uploaded"
            )
        check.raise_for_problems(name)
        return
    check.raise_for_problems(name)

    client = _client(app, site)
    _signed_in(app, client)
    target = S3Store(
        S3Target(site.upload_bucket, None, site.region, None, "DeepRacer on AWS upload bucket"),
        session=client.s3_session(),
    )
    app.ui.step(
        f"checkpoint {bundle.checkpoint} ({bundle.checkpoint_name}) of {source.prefix} → "
        f"s3://{site.upload_bucket}/{plan.upload_prefix}/ ({len(bundle.items)} files, "
        f"{human_bytes(bundle.total_bytes())})"
    )
    with progress_bar(app, "uploading") as bar:
        model_id = run_import(plan, client, source=source_store, target=target, progress=bar)
    app.ui.step(f"import of {name!r} started: model {model_id}")
    result: dict[str, Any] = {**plan.to_dict(), "modelId": model_id, "status": "IMPORTING"}
    if wait:
        seen: dict[str, Any] = {"status": None, "shown": -1e9}

        def progress(status: str, elapsed: float) -> None:
            if status != seen["status"] or elapsed - seen["shown"] >= 30:
                app.ui.info(f"  {status.lower()} … {elapsed:.0f}s")
                seen.update(status=status, shown=elapsed)

        model = wait_for_model(
            lambda: client.get_model(model_id), interval=poll_interval, timeout=timeout, on_status=progress
        )
        result.update(status=model.get("status"), model=model)
    if app.ui.json_mode:
        app.ui.json(result)
        return
    if wait:
        app.ui.success(f"model {name!r} ({model_id}) is READY in {site.url}")
    else:
        app.ui.success(f"model {name!r} ({model_id}) is importing; check with `drfc models get {model_id}`")
