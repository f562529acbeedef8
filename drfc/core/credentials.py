"""The local store's AWS profile, kept in the standard AWS credentials file.

DRfC users already have a ``[minio]`` profile there; drfc reuses it and only
creates one (with random keys) when it is missing, so the same keys work for
drfc, DRfC and the aws CLI.
"""

from __future__ import annotations

import configparser
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from drfc.errors import ConfigError


def credentials_file(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("AWS_SHARED_CREDENTIALS_FILE"):
        return Path(env["AWS_SHARED_CREDENTIALS_FILE"]).expanduser()
    return Path("~/.aws/credentials").expanduser()


def _read(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    if path.exists():
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            # Name the line only: the parser's own message quotes the line, which may hold a key.
            errors = getattr(exc, "errors", None) or [(None, None)]
            line = getattr(exc, "lineno", None) or errors[0][0]
            where = f" (line {line})" if line else ""
            raise ConfigError(
                f"the AWS credentials file {path} cannot be read{where}",
                hint="fix it (INI format: [profile] then key = value lines), or set AWS_SHARED_CREDENTIALS_FILE",
            ) from None
    return parser


def profile_keys(profile: str, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(access key, secret key) of ``profile``, or None when the profile has none."""
    parser = _read(credentials_file(environ))
    if not parser.has_section(profile):
        return None
    access = parser.get(profile, "aws_access_key_id", fallback="").strip()
    secret = parser.get(profile, "aws_secret_access_key", fallback="").strip()
    return (access, secret) if access and secret else None


def ensure_profile(profile: str, region: str, environ: Mapping[str, str] | None = None) -> bool:
    """Create ``profile`` with fresh random keys unless it has keys; True when it was created."""
    if profile_keys(profile, environ) is not None:
        return False
    path = credentials_file(environ)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    parser = _read(path)
    access, secret = "drfc" + secrets.token_hex(8), secrets.token_urlsafe(30)
    if not parser.has_section(profile):
        # Append the new section: the user's other profiles, comments and layout stay as they are.
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        lead = "" if not existing else ("\n" if existing.endswith("\n") else "\n\n")
        block = (
            f"{lead}[{profile}]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\nregion = {region}\n"
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(block)
    else:
        parser.set(profile, "aws_access_key_id", access)
        parser.set(profile, "aws_secret_access_key", secret)
        parser.set(profile, "region", region)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            parser.write(handle)
    os.chmod(path, 0o600)
    return True
