"""`drfc upload` (alias `upload-model`), `drfc car export`, `drfc download-model`, `drfc increment-upload-model`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from drfc.cli.main import App, checkpoint_options, json_option

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from drfc.cli.render import SyncBar
    from drfc.config.model import Config
    from drfc.core.upload import Bundle, TransferPlan, UploadResult


def resolve_choice(best: bool, last: bool, number: int | None) -> str | int:
    given = [name for name, on in (("--best", best), ("--last", last), ("--checkpoint", number is not None)) if on]
    if len(given) > 1:
        raise click.UsageError(f"{' and '.join(given)} exclude each other: choose one checkpoint")
    if number is not None:
        return number
    return "best" if best else "last"


def progress_bar(app: App, label: str) -> AbstractContextManager[SyncBar | None]:
    """A progress bar on stderr, or none in JSON mode (scripts read the result, and rich stays unloaded)."""
    if app.ui.json_mode:
        from contextlib import nullcontext

        return nullcontext(None)
    from drfc.cli.render import SyncBar

    return SyncBar(app.ui, label)


def _print_checkpoints(app: App, bundle: Bundle) -> None:
    """The lines downstream scripts parse (DeepRacer-on-the-Spot greps `checkpoint:`), on stdout."""
    if bundle.best_checkpoint is not None:
        app.ui.print(f"Best checkpoint: {bundle.best_checkpoint}")
    if bundle.last_checkpoint is not None:
        app.ui.print(f"Latest checkpoint = {bundle.last_checkpoint}")


def _confirmer(app: App, force: bool, what: str) -> Any:
    """The ``confirm`` callback of ``upload_bundle``: says what will change, asks unless ``-f``."""

    def confirm(plan: TransferPlan) -> None:
        from drfc.cli.render import human_bytes
        from drfc.errors import AbortedError

        transfers, deletes = plan.transfers, plan.of("delete")
        if not transfers and not deletes:
            return  # already in place: only the verification runs
        notes = []
        if plan.replaced:
            notes.append(f"replacing {len(plan.replaced)} existing object(s)")
        if deletes:
            notes.append(f"deleting {len(deletes)} object(s) that are not part of it")
        extra = f", {', '.join(notes)}" if notes else ""
        question = f"{what} ({len(transfers)} object(s), {human_bytes(plan.transfer_bytes)}{extra})?"
        if not app.ui.confirm(question, assume_yes=force):
            raise AbortedError("nothing was transferred", hint="pass -f to go ahead without the question")

    return confirm


def _summary(app: App, result: UploadResult, bundle: Bundle | None, *, verb: str) -> None:
    from drfc.cli.render import human_bytes

    data: dict[str, Any] = {}
    if bundle is not None:
        data.update(bundle.to_dict())
        data["bundle_bytes"] = data.pop("bytes")
    data.update(result.to_dict(with_steps=result.dry_run))  # "bytes": what was (or would be) transferred
    if app.ui.json_mode:
        app.ui.json(data)
        return
    if result.untouched:
        app.ui.warning(
            f"{result.target} also holds {result.untouched} object(s) that are not part of this model "
            "(left alone; --wipe deletes them)"
        )
    if result.dry_run:
        planned = [
            (s.kind + (" (replace)" if s.replaces else ""), s.key, human_bytes(s.size), _origin(s))
            for s in result.steps
            if s.kind != "skip"
        ]
        if planned:
            app.ui.table(
                ("Action", "Key", "Size", "From"), planned, title=f"dry run: {result.source} → {result.target}"
            )
        app.ui.info(
            f"dry run: would {verb} {result.copied + result.written} object(s) ({human_bytes(result.bytes)}), "
            f"skip {result.skipped} already in place, delete {result.deleted}; nothing was changed"
        )
        return
    rows: list[tuple[str, str]] = [("from", result.source), ("to", result.target)]
    if bundle is not None:
        rows.append(("checkpoint", f"{bundle.checkpoint} ({bundle.checkpoint_name}, {bundle.choice})"))
    rows += [
        ("copied", f"{result.copied} object(s)"),
        ("generated", f"{result.written} object(s)"),
        ("already there", f"{result.skipped} object(s)"),
        ("replaced", str(result.replaced)),
        ("deleted", str(result.deleted)),
        ("bytes", human_bytes(result.bytes)),
        ("verified", f"{result.verified} object(s): size and ETag or content"),
        ("transfer", result.method),
    ]
    app.ui.table(("", ""), rows, title=f"{verb} summary")
    app.ui.success(
        f"{verb}ed {result.copied + result.written} object(s) ({human_bytes(result.bytes)}), "
        f"{result.skipped} already in place, all {result.verified} verified in {result.seconds:.2f}s: {result.target}"
    )


def _origin(step: Any) -> str:
    item = step.item
    if item is None:
        return ""
    return item.source_key if item.source_key is not None else "generated"


# ------------------------------------------------------------------------------------------------ upload


@click.command("upload")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@checkpoint_options
@click.option(
    "-p", "--prefix", help="Upload the model at this prefix of the working bucket, to the same prefix at the target."
)
@click.option("-L", "--local", "local", is_flag=True, help="Copy to DR_UPLOAD_S3_PREFIX in the working bucket instead.")
@click.option("-w", "--wipe", is_flag=True, help="Also delete objects under the target prefix that are not part of it.")
@click.option("-d", "--dry-run", is_flag=True, help="Show every object that would be copied, written or deleted.")
@click.option("--droa", is_flag=True, help="Import into DeepRacer on AWS instead (as `drfc models import`).")
@click.option("--name", help="DRoA model name (with --droa; default: the upload prefix).")
@click.option("--description", help="DRoA model description (with --droa).")
@json_option
@click.pass_obj
def upload(
    app: App,
    force: bool,
    best: bool,
    last: bool,
    number: int | None,
    prefix: str | None,
    local: bool,
    wipe: bool,
    dry_run: bool,
    droa: bool,
    name: str | None,
    description: str | None,
) -> None:
    """Copy one checkpoint of the model, ready to import, to s3://$DR_UPLOAD_S3_BUCKET/$DR_UPLOAD_S3_PREFIX/.

    Takes the chosen checkpoint's files (by exact number), its model_<n>.pb, the model metadata,
    reward function, hyperparameters and metrics, and writes deepracer_checkpoints.json,
    .coach_checkpoint and training_params.yaml for the target. Uses DR_UPLOAD_S3_PROFILE; the
    endpoint follows AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or the profile's endpoint_url.
    Every object is verified after the copy; objects already there are skipped.
    """
    choice = resolve_choice(best, last, number)
    if droa:
        if local or wipe:
            raise click.UsageError("--droa uploads to DeepRacer on AWS: --local and --wipe do not apply")
        upload_to_droa(
            app, prefix=prefix, choice=choice, name=name, description=description, force=force, dry_run=dry_run
        )
        return
    if name is not None or description is not None:
        raise click.UsageError("--name and --description are for --droa")

    from drfc.core.storage_service import local_target
    from drfc.core.upload import check_not_overlapping, model_source, prepare_upload, upload_bundle, upload_target

    cfg = app.config()
    source = model_source(cfg, prefix)
    source_store = app.store(local_target(cfg))
    target_prefix = (prefix or cfg.settings.upload_s3_prefix).strip("/")
    if local:
        target_store = source_store
    else:
        upload = upload_target(cfg)
        target_store = source_store.reuse_for(upload) or app.store(upload)
    check_not_overlapping(source_store, source.prefix, target_store, target_prefix)
    bundle, listing, there = prepare_upload(source_store, source, target_store, target_prefix, choice=choice)
    _print_checkpoints(app, bundle)
    where = f"s3://{target_store.target.bucket}/{target_prefix}/"
    if not app.ui.json_mode:  # the JSON says the same
        app.ui.step(f"checkpoint {bundle.checkpoint} ({bundle.checkpoint_name}) of {source.prefix} → {where}")
    question = f"Upload checkpoint {bundle.checkpoint} of {source.prefix} to {where}"
    with progress_bar(app, "uploading") as bar:
        result = upload_bundle(
            bundle.items,
            listing,
            source=source_store,
            target=target_store,
            target_prefix=target_prefix,
            wipe=wipe,
            dry_run=dry_run,
            progress=bar,
            confirm=_confirmer(app, force, question),
            source_prefix=source.prefix,
            target_listing=there,
        )
    _summary(app, result, bundle, verb="upload")


def upload_to_droa(
    app: App,
    *,
    prefix: str | None,
    choice: str | int,
    name: str | None,
    description: str | None,
    force: bool,
    dry_run: bool,
) -> None:
    """`drfc upload --droa`: the hook the DRoA import (`drfc models import`) plugs into.

    ``force`` has nothing to confirm here: an import only adds a new model, under a fresh upload prefix.
    """
    from drfc.cli.models_cmd import import_into_droa

    import_into_droa(app, prefix=prefix, choice=choice, name=name, description=description, dry_run=dry_run)


# ------------------------------------------------------------------------------------------------ car


@click.group()
def car() -> None:
    """Models for the physical DeepRacer car."""


@car.command("export")
@checkpoint_options
@click.option("-p", "--prefix", help="Model prefix in the working bucket (default: DR_LOCAL_S3_MODEL_PREFIX).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=True, writable=True),
    help="File (or folder) to write; default ./<prefix>-chk<n>.tar.gz unless only --upload is given.",
)
@click.option(
    "--upload",
    "to_bucket",
    is_flag=True,
    help="Also put it at s3://$DR_LOCAL_S3_BUCKET/<prefix>/car/<prefix>-chk<n>.tar.gz.",
)
@click.option("-f", "--force", is_flag=True, help="Replace a different existing file or object of that name.")
@json_option
@click.pass_obj
def car_export(
    app: App,
    best: bool,
    last: bool,
    number: int | None,
    prefix: str | None,
    output: str | None,
    to_bucket: bool,
    force: bool,
) -> None:
    """Build the .tar.gz the car loads (model_metadata.json + agent/model.pb) straight from S3.

    No training container is needed: the frozen graph model_<n>.pb of the chosen checkpoint becomes
    agent/model.pb. The archive is reproducible: the same checkpoint always gives the same bytes.
    """
    import hashlib
    from pathlib import Path

    from drfc.cli.render import human_bytes
    from drfc.core.storage_service import local_target
    from drfc.core.upload import CAR_FOLDER, car_file_name, car_tarball, list_model, md5_hex, model_source, plan_car
    from drfc.errors import ConflictError

    choice = resolve_choice(best, last, number)
    cfg = app.config()
    source = model_source(cfg, prefix)
    store = app.store(local_target(cfg))
    bundle = plan_car(list_model(store, source), store.get_bytes, source_prefix=source.prefix, choice=choice)
    data = car_tarball([(item.target, store.get_bytes(item.source_key or "")) for item in bundle.items])
    name = car_file_name(source.prefix, bundle.checkpoint)
    written: str | None = None
    if output is not None or not to_bucket:
        path = Path(output) if output else Path(name)
        if path.is_dir():
            path = path / name
        if path.exists() and path.read_bytes() != data and not force:
            raise ConflictError(f"{path} exists and holds something else", hint="pass -f to replace it, or -o")
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_bytes(data)
        temp.replace(path)
        written = str(path)
    key: str | None = None
    if to_bucket:
        key = f"{source.prefix}/{CAR_FOLDER}/{name}"
        there = store.head(key)
        if there is not None and there.etag != md5_hex(data) and not force:
            raise ConflictError(
                f"s3://{store.target.bucket}/{key} exists and holds something else", hint="pass -f to replace it"
            )
        if there is None or there.etag != md5_hex(data):
            store.put_bytes(key, data, content_type="application/gzip")
    members = [item.target for item in bundle.items]
    if app.ui.json_mode:
        app.ui.json(
            {
                **bundle.to_dict(),
                "file": written,
                "key": f"s3://{store.target.bucket}/{key}" if key else None,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "members": members,
            }
        )
        return
    _print_checkpoints(app, bundle)
    places = [p for p in (written, f"s3://{store.target.bucket}/{key}" if key else None) if p]
    app.ui.success(
        f"car model of checkpoint {bundle.checkpoint} ({bundle.checkpoint_name}, {human_bytes(len(data))}; "
        f"{', '.join(members)}): {' and '.join(places)}"
    )


# ------------------------------------------------------------------------------------------------ download


@click.command("download-model")
@click.option("-s", "--source", "source_url", required=True, metavar="s3://BUCKET/PREFIX", help="Model to copy.")
@click.option("-t", "--target", "target_prefix", help="Prefix in the working bucket (default: the source's).")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("-w", "--wipe", is_flag=True, help="Also delete objects under the target prefix that the source lacks.")
@click.option("-d", "--dry-run", is_flag=True, help="Show every object that would be copied or deleted.")
@json_option
@click.pass_obj
def download_model(
    app: App, source_url: str, target_prefix: str | None, force: bool, wipe: bool, dry_run: bool
) -> None:
    """Copy a model (everything under s3://BUCKET/PREFIX/) into the working bucket.

    The source is read with DR_UPLOAD_S3_PROFILE, like `drfc upload` writes; it must hold
    reward_function.py, model/model_metadata.json and ip/hyperparameters.json.
    """
    from drfc.core.storage import S3Target
    from drfc.core.storage_service import local_target
    from drfc.core.upload import check_not_overlapping, plan_mirror, upload_bundle
    from drfc.errors import NotFoundError

    bucket, prefix = parse_s3_url(source_url)
    cfg = app.config()
    profile = cfg.settings.upload_s3_profile
    source_store = app.store(
        S3Target(bucket, None, "", None if profile in ("", "default") else profile, "source bucket", None)
    )
    target_store = app.store(local_target(cfg))
    target = (target_prefix or prefix).strip("/")
    check_not_overlapping(source_store, prefix, target_store, target)
    listing = source_store.list(prefix)
    keys = {o.key for o in listing}
    required = ("reward_function.py", "model/model_metadata.json", "ip/hyperparameters.json")
    missing = [f"{prefix}/{name}" for name in required if f"{prefix}/{name}" not in keys]
    if missing:
        found = f"{len(listing)} object(s) there" if listing else "nothing there"
        raise NotFoundError(
            f"s3://{bucket}/{prefix}/ is not a model ({found}): missing {', '.join(missing)}",
            hint="check the URL; the source is read with DR_UPLOAD_S3_PROFILE",
        )
    where = f"s3://{target_store.target.bucket}/{target}/"
    with progress_bar(app, "downloading") as bar:
        result = upload_bundle(
            plan_mirror(listing, prefix),
            listing,
            source=source_store,
            target=target_store,
            target_prefix=target,
            wipe=wipe,
            dry_run=dry_run,
            progress=bar,
            confirm=_confirmer(app, force, f"Copy model s3://{bucket}/{prefix}/ to {where}"),
            source_prefix=prefix,
        )
    _summary(app, result, None, verb="download")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> (``bucket``, ``a/b``); the prefix must not be empty."""
    if not url.startswith("s3://"):
        raise click.BadParameter(f"{url!r} is not an s3://BUCKET/PREFIX URL", param_hint="'-s'")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket or not prefix.strip("/"):
        raise click.BadParameter(f"{url!r} needs a bucket and a prefix: s3://BUCKET/PREFIX", param_hint="'-s'")
    return bucket, prefix.strip("/")


# ------------------------------------------------------------------------------------------------ increment


@click.command("increment-upload-model")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("-d", "--delimiter", default="-", show_default=True, help="Separator before the number.")
@json_option
@click.pass_obj
def increment_upload_model(app: App, force: bool, delimiter: str) -> None:
    """Upload the next model under a new name: bump the number at the end of DR_UPLOAD_S3_PREFIX.

    `name` -> `name-1` -> `name-2` (zero padding kept). A value written with a reference, such as
    $DR_LOCAL_S3_MODEL_PREFIX-1, keeps it ($DR_LOCAL_S3_MODEL_PREFIX-2). Edits the active run file.
    """
    from drfc.config.load import load_config
    from drfc.core.configset import apply_settings
    from drfc.core.increment import next_name
    from drfc.errors import AbortedError, ConfigError

    key = "DR_UPLOAD_S3_PREFIX"
    cfg = app.config()
    old = cfg.settings.upload_s3_prefix
    raw = _written_value(cfg, key) or old
    try:
        new_raw = next_name(raw, delimiter)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    shown = new_raw if "$" not in new_raw else f"{new_raw} (now {old})"
    if not app.ui.confirm(f"Upload the next model to {shown}?", assume_yes=force):
        raise AbortedError("nothing was changed", hint="pass -f to skip the question")
    changes = apply_settings(app.load_options("any"), {key: new_raw}, "run")
    new = load_config(app.load_options("any")).settings.upload_s3_prefix
    if changes[0].overridden_by:
        app.ui.warning(f"{changes[0].overridden_by} overrides the file: the value in effect is still {new}")
    if app.ui.json_mode:
        app.ui.json({"from": old, "to": new, "written": new_raw, "file": str(changes[0].file)})
        return
    app.ui.success(f"DR_UPLOAD_S3_PREFIX: {old} → {new} ({changes[0].file})")


def _written_value(cfg: Config, key: str) -> str | None:
    """The value of ``key`` as written in the file that sets it (references unexpanded), or its default."""
    from drfc.config.envfile import parse_env_file
    from drfc.config.schema import spec_by_key

    source = cfg.sources.get(key)
    if source is None or source.kind == "default":
        return str(spec_by_key()[key].default)
    if source.kind in ("run", "system") and source.file is not None:
        entries = [e for e in parse_env_file(source.file).entries if e.key == key]
        if entries and not entries[-1].literal:
            return str(entries[-1].raw)
    return None
