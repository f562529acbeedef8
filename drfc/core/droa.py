"""DeepRacer on AWS (DRoA): what drfc knows about a deployment and its import rules, without any I/O.

DRoA is the self-hosted successor of the AWS DeepRacer console. drfc talks to it
as a client (``drfc.adapters.droa`` does the HTTP, Cognito and S3 parts); this
module holds the pure pieces those calls need:

* discovery: the site's ``env.js`` (``window.EnvironmentConfig = {...};``),
  parsed as JSON, or leniently as a JavaScript object literal;
* the credential cache record (temporary AWS credentials plus the Cognito
  refresh token) and when it must be renewed;
* pre-flight checks of an import bundle, so a model DRoA would reject fails
  here, before a byte is uploaded: name rules, track and direction, car shell
  and colour, SAC with a continuous action space, object-avoidance positions,
  required files, and the size and object-count limits;
* the ``POST /importmodel`` body and the upload key convention;
* polling a model until ``READY`` or ``ERROR``, and the rows ``drfc models`` prints.

The track and car tables are a snapshot of DRoA v1.2.5 (``tracks.json`` and
the simapp shell mapping); a newer deployment may know more, so an unknown
track is an error (DRoA answers 400 for it) while an unknown shell only warns
(DRoA imports it as the white DeepRacer).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from drfc.config.problems import suggest
from drfc.core.upload import split_direction
from drfc.errors import DroaError, DroaImportError

if TYPE_CHECKING:
    from drfc.adapters.s3 import S3Store
    from drfc.core.storage import RemoteObject, SyncProgress
    from drfc.core.upload import Bundle, ModelSource

# --------------------------------------------------------------------------- discovery (env.js)

#: env.js key -> DroaSite attribute, for the keys drfc cannot work without.
REQUIRED_ENV_KEYS = {
    "apiEndpointUrl": "api_endpoint_url",
    "region": "region",
    "userPoolId": "user_pool_id",
    "userPoolClientId": "user_pool_client_id",
    "identityPoolId": "identity_pool_id",
    "uploadBucketName": "upload_bucket",
}

_ENV_ASSIGNMENT = re.compile(r"EnvironmentConfig\s*=\s*(\{.*\})\s*;?", re.DOTALL)


@dataclass(frozen=True)
class DroaSite:
    """One DRoA deployment, as its web site describes itself in ``env.js``."""

    url: str
    api_endpoint_url: str
    region: str
    user_pool_id: str
    user_pool_client_id: str
    identity_pool_id: str
    upload_bucket: str
    solution_version: str | None = None
    namespace: str | None = None

    @property
    def login_provider(self) -> str:
        """The identity pool's ``Logins`` key for this user pool."""
        return f"cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    def api_url(self, path: str) -> str:
        """``path`` (``/models``) under the API stage URL, which ends in ``/``."""
        return self.api_endpoint_url.rstrip("/") + "/" + path.lstrip("/")


def env_js_url(site_url: str) -> str:
    """Where a deployment publishes its configuration."""
    return site_url.rstrip("/") + "/env.js"


def parse_env_js(text: str, site_url: str) -> DroaSite:
    """The deployment described by an ``env.js`` body; strict JSON first, then a JS object literal."""
    where = env_js_url(site_url)
    match = _ENV_ASSIGNMENT.search(text)
    if not match:
        raise DroaError(
            f"{where} does not define window.EnvironmentConfig",
            hint="check that DR_DROA_URL is the address of your DeepRacer on AWS web site",
        )
    literal = match.group(1)
    try:
        data = json.loads(literal)
    except json.JSONDecodeError:
        try:
            data = json.loads(js_object_to_json(literal))
        except json.JSONDecodeError as exc:
            raise DroaError(f"cannot parse the configuration in {where}: {exc.msg} (position {exc.pos})") from None
    if not isinstance(data, dict):
        raise DroaError(f"the configuration in {where} is not an object")
    missing = [key for key in REQUIRED_ENV_KEYS if not isinstance(data.get(key), str) or not data[key].strip()]
    if missing:
        raise DroaError(f"{where} lacks {', '.join(missing)}; is this a DeepRacer on AWS site?")
    api = data["apiEndpointUrl"].strip()
    if not api.startswith(("https://", "http://")):
        raise DroaError(f"{where}: apiEndpointUrl {api!r} is not an http(s) URL")
    values = {attr: data[key].strip() for key, attr in REQUIRED_ENV_KEYS.items()}
    return DroaSite(
        url=site_url.rstrip("/"),
        solution_version=_optional_str(data.get("solutionVersion")),
        namespace=_optional_str(data.get("namespace")),
        **values,
    )


def _optional_str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def js_object_to_json(literal: str) -> str:
    """Rewrite a JavaScript object literal as JSON: quote bare keys, ``'...'`` to ``"..."``, drop trailing commas.

    Strings are copied untouched (apart from the quote change), so URLs and
    values that contain ``:`` or ``,`` survive.
    """
    out: list[str] = []
    i, n = 0, len(literal)
    while i < n:
        ch = literal[i]
        if ch in "\"'":
            j = i + 1
            chars: list[str] = []
            while j < n and literal[j] != ch:
                if literal[j] == "\\" and j + 1 < n:
                    chars.append(literal[j : j + 2])
                    j += 2
                    continue
                chars.append(literal[j])
                j += 1
            body = "".join(chars)
            if ch == "'":
                body = body.replace("\\'", "'").replace('"', '\\"')
            out.append(f'"{body}"')
            i = j + 1
        elif ch.isalpha() or ch in "_$":
            j = i
            while j < n and (literal[j].isalnum() or literal[j] in "_$"):
                j += 1
            word = literal[i:j]
            k = j
            while k < n and literal[k].isspace():
                k += 1
            is_key = k < n and literal[k] == ":" and word not in {"true", "false", "null"}
            out.append(f'"{word}"' if is_key else word)
            i = j
        elif ch == ",":
            k = _skip_blank(literal, i + 1)
            if k < n and literal[k] in "}]":
                i += 1  # trailing comma
                continue
            out.append(ch)
            i += 1
        elif ch == "/" and i + 1 < n and literal[i + 1] in "/*":
            i = _skip_blank(literal, i)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _skip_blank(literal: str, i: int) -> int:
    """The index of the next character that is neither whitespace nor inside a ``//`` or ``/* */`` comment."""
    n = len(literal)
    while i < n:
        if literal[i].isspace():
            i += 1
        elif literal.startswith("//", i):
            end = literal.find("\n", i)
            i = n if end < 0 else end + 1
        elif literal.startswith("/*", i):
            end = literal.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            break
    return i


# --------------------------------------------------------------------------- credentials cache record

#: Cached credentials are renewed when fewer seconds than this remain (a request must not outlive them).
REFRESH_MARGIN = 300


@dataclass(frozen=True)
class TemporaryCredentials:
    """Identity-pool session credentials; the secret and token never appear in a repr."""

    access_key_id: str
    secret_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime
    identity_id: str = ""

    def usable(self, now: datetime, margin: float = REFRESH_MARGIN) -> bool:
        """True while more than ``margin`` seconds of validity remain."""
        return (self.expiration - now).total_seconds() > margin


@dataclass(frozen=True)
class Login:
    """What the cache file holds for one user on one deployment: credentials and the refresh token."""

    site: str
    username: str
    credentials: TemporaryCredentials
    refresh_token: str | None = field(default=None, repr=False)

    def to_json(self) -> str:
        c = self.credentials
        return json.dumps(
            {
                "version": 1,
                "site": self.site,
                "username": self.username,
                "identityId": c.identity_id,
                "accessKeyId": c.access_key_id,
                "secretKey": c.secret_key,
                "sessionToken": c.session_token,
                "expiration": c.expiration.astimezone(timezone.utc).isoformat(),
                "refreshToken": self.refresh_token,
            },
            indent=2,
        )

    @staticmethod
    def from_json(text: str) -> Login | None:
        """The cached login, or None when the file is not one drfc wrote (then it is ignored and replaced)."""
        try:
            data = json.loads(text)
            expiration = datetime.fromisoformat(data["expiration"])
            if expiration.tzinfo is None:
                expiration = expiration.replace(tzinfo=timezone.utc)
            credentials = TemporaryCredentials(
                access_key_id=str(data["accessKeyId"]),
                secret_key=str(data["secretKey"]),
                session_token=str(data["sessionToken"]),
                expiration=expiration,
                identity_id=str(data.get("identityId") or ""),
            )
            refresh = data.get("refreshToken")
            return Login(str(data["site"]), str(data["username"]), credentials, str(refresh) if refresh else None)
        except (ValueError, KeyError, TypeError):
            return None


def cache_file_name(identity_pool_id: str, username: str) -> str:
    """One file per deployment and user; user names are case-insensitive in DRoA's user pool."""
    digest = hashlib.sha256(f"{identity_pool_id}:{username.strip().lower()}".encode()).hexdigest()[:16]
    return f"{digest}.json"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- tracks and cars (DRoA v1.2.5)

CW = "CLOCKWISE"
CCW = "COUNTER_CLOCKWISE"


@dataclass(frozen=True)
class Track:
    track_id: str
    default_direction: str
    directions: tuple[str, ...]


def _tracks(both_ccw: str, ccw_only: str, cw_only: str, both_cw: str) -> dict[str, Track]:
    table: dict[str, Track] = {}
    for names, default, directions in (
        (both_ccw, CCW, (CW, CCW)),
        (ccw_only, CCW, (CCW,)),
        (cw_only, CW, (CW,)),
        (both_cw, CW, (CW, CCW)),
    ):
        for name in names.split():
            table[name] = Track(name, default, directions)
    return table


#: DRoA's 62 tracks: id -> default direction and the directions a model may be imported for.
TRACKS: dict[str, Track] = _tracks(
    both_ccw="""
        2024_reinvent_champ 2022_april_open 2022_april_pro 2022_august_open 2022_august_pro 2022_july_pro
        2022_june_open 2022_june_pro 2022_march_open 2022_march_pro 2022_may_open 2022_may_pro
        2022_october_open 2022_october_pro 2022_reinvent_champ 2022_september_open 2022_september_pro
        2022_summit_speedway arctic_open arctic_pro dubai_open jyllandsringen_open jyllandsringen_pro
        penbay_open penbay_pro red_star_pro reInvent2019_track thunder_hill_pro
    """,
    ccw_only="""
        2022_july_open AmericasGeneratedInclStart Austin Bowtie_track caecer_gp caecer_loop Canada_Training
        China_track dubai_pro hamption_open hamption_pro LGSWide Mexico_track morgan_open morgan_pro
        New_York_Track Oval_track red_star_open reinvent_base Singapore Singapore_building thunder_hill_open
        Tokyo_Training_track Vegas_track Virtual_May19_Train_track
    """,
    cw_only="Albert Aragon Belille FS_June2020 July_2020 Monaco Monaco_building Spain_track",
    both_cw="reInvent2019_wide",
)

#: DRoA's car colours (its CarColor enum).
CAR_COLORS = frozenset(
    {
        "BLACK", "BLUE", "BROWN", "GOLDEN", "GOLDENPINK", "GREEN", "GREY", "ORANGE",
        "PINK", "PURPLE", "RED", "SKY_BLUE", "TEAL", "WHITE", "YELLOW",
    }
)  # fmt: skip
#: The colours the plain DeepRacer shell (``BODY_SHELL_TYPE: deepracer``) comes in.
DEEPRACER_COLORS = frozenset({"BLACK", "BLUE", "GREY", "ORANGE", "PURPLE", "RED", "WHITE"})
#: simapp shell id (``BODY_SHELL_TYPE``) -> the (shell, colour) DRoA imports it as; any other shell
#: imports as the white DeepRacer.
SIMAPP_SHELLS: dict[str, tuple[str, str]] = {
    "f1_car_mercedes_08": ("AGATHA", "GREY"),
    "f1_amazon_van_purple_with_wheel": ("AMAZON_EDV", "PURPLE"),
    "f1_amazon_van_white_with_wheel": ("AMAZON_EDV", "WHITE"),
    "f1_baja_truck_05": ("BAJA_TRUCK", "TEAL"),
    "f1_baja_truck_03": ("BAJA_TRUCK", "ORANGE"),
    "f1_car_banana_01": ("BANANA", "BLACK"),
    "f1_august_bike_02_with_wheel": ("BIKE", "BLUE"),
    "f1_august_bike_01_with_wheel": ("BIKE", "RED"),
    "f1_september_bug_01_with_wheel": ("BUGGY", "WHITE"),
    "f1_september_bug_02_with_wheel": ("BUGGY", "PURPLE"),
    "f1_car_clown_01": ("CLOWN", "YELLOW"),
    "f1_june_car_01": ("COMPACT", "RED"),
    "f1_june_car_02": ("COMPACT", "PURPLE"),
    "f1_dog_van": ("DOG_VAN", "BROWN"),
    "f1_dragon": ("DRAGON", "BROWN"),
    "f1_dune_buggy_01": ("DUNE_BUGGY", "RED"),
    "f1_dune_buggy_07": ("DUNE_BUGGY", "GOLDEN"),
    "f1_2021": ("F1", "RED"),
    "f1_nudie_purple_with_wheel": ("F1_NUDIE", "PURPLE"),
    "f1_nudie_orange_with_wheel": ("F1_NUDIE", "ORANGE"),
    "f1_nudie_white_with_wheel": ("F1_NUDIE", "WHITE"),
    "f1_october_wagon_01_with_wheel": ("FAMILY_WAGON", "GREEN"),
    "f1_october_wagon_02_with_wheel": ("FAMILY_WAGON", "PURPLE"),
    "f1_december_car_01_with_wheel": ("GT", "PURPLE"),
    "f1_december_car_02_with_wheel": ("GT", "RED"),
    "f1_hotrod_03": ("HOT_ROD", "PURPLE"),
    "fl_hotrod_02": ("HOT_ROD", "ORANGE"),
    "f1_kart": ("KART", "RED"),
    "f1_lorry_01": ("LORRY", "PURPLE"),
    "f1_lunar_rover": ("LUNAR_ROVER", "BROWN"),
    "f1_july_car_03_with_wheel": ("LUNAR_ROVER", "GOLDEN"),
    "f1_mars_rover_with_wheel": ("MARS_ROVER", "WHITE"),
    "f1_monster_truck_01": ("MONSTER_TRUCK", "PURPLE"),
    "f1_mustang_eleanor_01": ("NELL", "RED"),
    "f1_mustang_eleanor_02": ("NELL", "BLACK"),
    "f1_mustang_eleanor_03": ("NELL", "YELLOW"),
    "f1_car_retro_01": ("RETRO_FUTURISTIC", "PURPLE"),
    "f1_rogue_01": ("ROGUE_ROD", "ORANGE"),
    "f1_snail": ("SNAIL", "PINK"),
    "f1_car_tron_01": ("TRON", "BLUE"),
    "f1_car_tron_02": ("TRON", "RED"),
    "f1_car_tron_03": ("TRON", "GOLDEN"),
    "f1_car_tron_04": ("TRON", "WHITE"),
    "f1_car_tron_05": ("TRON", "SKY_BLUE"),
    "f1_car_tron_06": ("TRON", "GREEN"),
    "f1_car_tron_07": ("TRON", "PURPLE"),
    "f1_car_tron_08": ("TRON", "YELLOW"),
    "f1_car_tron_09": ("TRON", "GREY"),
    "f1_car_tron_10": ("TRON", "GOLDENPINK"),
    "f1_july_car_01_with_wheel": ("WAGON", "PINK"),
    "f1_july_car_02_with_wheel": ("WAGON", "BLUE"),
}


def droa_direction(world: str, reverse: bool) -> tuple[str, bool]:
    """DRoA's track id and ``TRACK_DIRECTION_CLOCKWISE`` for a DRfC ``WORLD_NAME`` and reverse flag.

    A ``_cw``/``_ccw`` suffix decides; otherwise the track's default direction,
    flipped when training ran reversed. (DRfC's ``not REVERSE`` guess is wrong for
    the 28 two-way tracks that default to counter-clockwise.)
    """
    track_id, clockwise = split_direction(world)
    if clockwise is not None:
        return track_id, clockwise
    track = TRACKS.get(track_id)
    default_cw = track is not None and track.default_direction == CW
    return track_id, default_cw != reverse


# --------------------------------------------------------------------------- names

MODEL_NAME_MAX = 64
DESCRIPTION_MAX = 255
_NAME_OK = re.compile(r"^[A-Za-z0-9-]+$")
_DESCRIPTION_OK = re.compile(r"^[A-Za-z0-9- ]+$")


def model_name_problem(name: str) -> str | None:
    """DRoA's rule for ``modelName``, as a message, or None when the name is fine."""
    if not name or not _NAME_OK.match(name) or len(name) > MODEL_NAME_MAX:
        return (
            f"model name {name!r} is not allowed: use letters, digits and hyphens only, "
            f"at most {MODEL_NAME_MAX} characters (e.g. {suggest_model_name(name)!r})"
        )
    return None


def description_problem(description: str | None) -> str | None:
    if description and (not _DESCRIPTION_OK.match(description) or len(description) > DESCRIPTION_MAX):
        return (
            f"model description {description!r} is not allowed: use letters, digits, spaces and hyphens only, "
            f"at most {DESCRIPTION_MAX} characters"
        )
    return None


def suggest_model_name(raw: str) -> str:
    """A valid model name close to ``raw`` (a prefix such as ``rl-deepracer/sub_1.2``)."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", raw)
    name = re.sub(r"-{2,}", "-", name).strip("-")[:MODEL_NAME_MAX].rstrip("-")
    return name or "drfc-model"


# --------------------------------------------------------------------------- the upload

UPLOAD_ROOT = "uploads/models"
#: DRoA's import lists the upload once (ListObjectsV2 without paging): more objects are silently dropped.
MAX_OBJECTS = 1000
#: The DRoA web UI refuses bigger folders, and its documentation states the same limit for imports.
MAX_BYTES = 1024**3
REQUIRED_FILES = (
    "training_params.yaml",
    "model_metadata.json",
    "reward_function.py",
    "ip/hyperparameters.json",
    "model/model_metadata.json",
    "model/deepracer_checkpoints.json",
    "model/.coach_checkpoint",
)
_REFUSED_SUFFIXES = (".gz", ".zip")


def new_upload_prefix(token: str | None = None) -> str:
    """``uploads/models/<uuid4>``: the key prefix DRoA's web UI uses, so the upload bucket's lifecycle applies."""
    return f"{UPLOAD_ROOT}/{token or uuid.uuid4()}"


def import_request(bucket: str, prefix: str, name: str, description: str | None = None) -> dict[str, str]:
    """The ``POST /importmodel`` body."""
    body = {"s3Bucket": bucket, "s3Path": prefix.strip("/"), "modelName": name}
    if description:
        body["modelDescription"] = description
    return body


#: ImportFiles attribute -> the bundle path it is read from.
PARSED_FILES = {
    "training_params": "training_params.yaml",
    "model_metadata": "model_metadata.json",
    "hyperparameters": "ip/hyperparameters.json",
    "checkpoints": "model/deepracer_checkpoints.json",
}


@dataclass(frozen=True)
class ImportFiles:
    """What pre-flight reads from a DRoA-layout bundle: every path (relative to the upload prefix) with
    its size, and the bytes of the small files DRoA parses (None when the bundle lacks them)."""

    sizes: Mapping[str, int]
    training_params: bytes | None = None
    model_metadata: bytes | None = None
    hyperparameters: bytes | None = None
    checkpoints: bytes | None = None

    @classmethod
    def from_reader(cls, sizes: Mapping[str, int], read: Callable[[str], bytes]) -> ImportFiles:
        """Read the parsed files through ``read(relpath)``, only those the bundle holds."""
        values = {attr: read(path) if path in sizes else None for attr, path in PARSED_FILES.items()}
        return cls(sizes=dict(sizes), **values)


@dataclass(frozen=True)
class Preflight:
    """The outcome of the checks: problems block the import; warnings say what DRoA will make of it."""

    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    track: str | None = None
    direction: str | None = None
    car: tuple[str, str] | None = None
    algorithm: str | None = None
    race_type: str | None = None
    files: int = 0
    total_bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self, name: str) -> None:
        if self.problems:
            raise DroaImportError(
                f"model {name!r} would be refused by DeepRacer on AWS; nothing was uploaded:\n"
                + "\n".join(f"  • {p}" for p in self.problems),
                problems=list(self.problems),
                hint="fix the model or its training_params.yaml and run the import again",
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "track": self.track,
            "direction": self.direction,
            "car": {"shell": self.car[0], "color": self.car[1]} if self.car else None,
            "algorithm": self.algorithm,
            "raceType": self.race_type,
            "files": self.files,
            "bytes": self.total_bytes,
        }


def _load(data: bytes | None, what: str, loader: Callable[[bytes], Any], problems: list[str]) -> Any:
    if data is None:
        return None
    try:
        return loader(data)
    except (ValueError, yaml.YAMLError) as exc:
        problems.append(f"{what} cannot be parsed: {str(exc).splitlines()[0]}")
        return None


def preflight(files: ImportFiles, name: str, description: str | None = None) -> Preflight:
    """Everything DRoA checks on import that can be checked before uploading, plus its limits."""
    problems: list[str] = []
    warnings: list[str] = []
    for problem in (model_name_problem(name), description_problem(description)):
        if problem:
            problems.append(problem)

    sizes = files.sizes
    missing = [path for path in REQUIRED_FILES if path not in sizes]
    if missing:
        problems.append(f"required files missing from the bundle: {', '.join(missing)}")
    total = sum(sizes.values())
    if len(sizes) > MAX_OBJECTS:
        problems.append(f"{len(sizes)} files; DeepRacer on AWS imports at most {MAX_OBJECTS}")
    if total >= MAX_BYTES:
        problems.append(f"{total} bytes; DeepRacer on AWS imports less than 1 GiB")
    refused = sorted(p for p in sizes if p.lower().endswith(_REFUSED_SUFFIXES))
    if refused:
        problems.append(f"archives are not accepted in an import: {', '.join(refused)}")

    params = _load(files.training_params, "training_params.yaml", yaml.safe_load, problems)
    if params is not None and not isinstance(params, dict):
        problems.append("training_params.yaml is not a mapping of keys to values")
        params = None
    track, direction = _check_track(params, problems, warnings) if params is not None else (None, None)
    car = _check_car(params, problems, warnings) if params is not None else None
    race_type = _check_race(params, problems, warnings) if params is not None else None

    metadata = _load(files.model_metadata, "model_metadata.json", json.loads, problems)
    hyper = _load(files.hyperparameters, "ip/hyperparameters.json", json.loads, problems)
    algorithm = _check_algorithm(metadata, hyper, problems) if isinstance(metadata, dict) else None

    checkpoints = _load(files.checkpoints, "model/deepracer_checkpoints.json", json.loads, problems)
    if isinstance(checkpoints, dict):
        _check_checkpoint_files(checkpoints, sizes, problems)

    return Preflight(
        problems=tuple(problems),
        warnings=tuple(warnings),
        track=track,
        direction=direction,
        car=car,
        algorithm=algorithm,
        race_type=race_type,
        files=len(sizes),
        total_bytes=total,
    )


def _check_track(params: Mapping[str, Any], problems: list[str], warnings: list[str]) -> tuple[str | None, str | None]:
    world = params.get("WORLD_NAME")
    if not isinstance(world, str) or not world:
        problems.append("training_params.yaml has no WORLD_NAME (the track)")
        return None, None
    bare, suffix_direction = split_direction(world)
    has_suffix = suffix_direction is not None
    if has_suffix:
        problems.append(f"WORLD_NAME {world!r} carries a direction suffix; DeepRacer on AWS expects {bare!r}")
    track = TRACKS.get(world)
    if track is None:
        if not has_suffix:
            close = suggest(world, TRACKS)
            problems.append(
                f"track {world!r} is not a DeepRacer on AWS track (custom tracks cannot be imported)"
                + (f"; {close}" if close else "")
            )
        return (bare if has_suffix else world), None
    clockwise = params.get("TRACK_DIRECTION_CLOCKWISE")
    if len(track.directions) == 1:
        direction = track.default_direction
        if isinstance(clockwise, bool) and clockwise != (direction == CW):
            warnings.append(
                f"{world} only runs {direction.lower().replace('_', '-')}; TRACK_DIRECTION_CLOCKWISE is ignored"
            )
        return world, direction
    if clockwise is not None and not isinstance(clockwise, bool):
        problems.append(
            f"TRACK_DIRECTION_CLOCKWISE must be a YAML boolean (true/false), not {clockwise!r}: "
            "DeepRacer on AWS reads anything else as counter-clockwise"
        )
    direction = CW if clockwise is True else CCW
    if direction not in track.directions:
        problems.append(f"track {world} is not available {direction.lower().replace('_', '-')}")
    return world, direction


def _check_car(params: Mapping[str, Any], problems: list[str], warnings: list[str]) -> tuple[str, str]:
    shell = params.get("BODY_SHELL_TYPE")
    if shell in (None, ""):
        return "DEEPRACER", "WHITE"
    if shell == "deepracer":
        raw = params.get("CAR_COLOR")
        color = str(raw).upper() if raw not in (None, "") else ""
        if color in CAR_COLORS and color not in DEEPRACER_COLORS:
            problems.append(
                f"car shell deepracer is not available in colour {raw}; "
                f"use one of {', '.join(sorted(c.title() for c in DEEPRACER_COLORS))}"
            )
        elif color not in CAR_COLORS:
            warnings.append(f"CAR_COLOR {raw!r} is not a DeepRacer on AWS colour; the car imports as White")
            color = "WHITE"
        return "DEEPRACER", color
    pair = SIMAPP_SHELLS.get(str(shell))
    if pair is None:
        warnings.append(f"car shell {shell!r} is unknown to DeepRacer on AWS; the car imports as a white DeepRacer")
        return "DEEPRACER", "WHITE"
    return pair


def _check_race(params: Mapping[str, Any], problems: list[str], warnings: list[str]) -> str:
    race = str(params.get("RACE_TYPE") or "TIME_TRIAL")
    if race != "OBJECT_AVOIDANCE":
        if race != "TIME_TRIAL":
            warnings.append(f"race type {race} imports as TIME_TRIAL")
        return "TIME_TRIAL"
    count = params.get("NUMBER_OF_OBSTACLES")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 6:
        problems.append(f"NUMBER_OF_OBSTACLES must be a YAML integer from 1 to 6, not {count!r}")
        return race
    randomize = params.get("RANDOMIZE_OBSTACLE_LOCATIONS")
    if randomize is not None and not isinstance(randomize, bool):
        problems.append(
            f"RANDOMIZE_OBSTACLE_LOCATIONS must be a YAML boolean (true/false), not {randomize!r}: "
            "DeepRacer on AWS reads anything else as false"
        )
    positions = params.get("OBJECT_POSITIONS")
    if randomize is True or not positions:
        return race
    if isinstance(positions, str):
        positions = [p for p in positions.split(";") if p.strip()]
    if not isinstance(positions, list):
        problems.append(f"OBJECT_POSITIONS must be a list of 'progress,lane' strings, not {positions!r}")
        return race
    try:
        progress = sorted(float(str(p).split(",")[0]) for p in positions)
    except ValueError:
        problems.append(f"OBJECT_POSITIONS must be 'progress,lane' strings, not {positions!r}")
        return race
    if len(progress) != count:
        problems.append(f"{len(progress)} OBJECT_POSITIONS for {count} obstacles; they must match")
    elif progress[0] < 0.07:
        problems.append(f"the first obstacle must be at 0.07 of the lap or later, not {progress[0]}")
    elif progress[-1] > 0.9:
        problems.append(f"the last obstacle must be at 0.9 of the lap or earlier, not {progress[-1]}")
    elif any(b - a < 0.13 for a, b in itertools.pairwise(progress)):
        problems.append("obstacles must be at least 0.13 of the lap apart")
    return race


def _check_algorithm(metadata: Mapping[str, Any], hyper: Any, problems: list[str]) -> str:
    algorithm = "SAC" if metadata.get("training_algorithm") == "sac" else "PPO"
    declared = metadata.get("action_space_type")
    space = metadata.get("action_space")
    shape = "discrete" if isinstance(space, list) else "continuous" if isinstance(space, dict) else None
    if shape is None:
        problems.append("model_metadata.json has no action_space")
    elif declared in ("discrete", "continuous") and declared != shape:
        problems.append(f"model_metadata.json: action_space_type is {declared} but action_space is {shape}")
    if algorithm == "SAC" and "discrete" in (declared, shape):
        problems.append("SAC needs a continuous action space; this model's is discrete")
    if shape == "continuous" and isinstance(space, dict):
        for key in ("speed", "steering_angle"):
            bounds = space.get(key)
            low = bounds.get("low") if isinstance(bounds, dict) else None
            high = bounds.get("high") if isinstance(bounds, dict) else None
            if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
                problems.append(f"continuous action space needs numeric {key}.low and {key}.high")
            elif low >= high:
                problems.append(f"continuous action space: {key}.low ({low}) must be below {key}.high ({high})")
    if algorithm == "SAC" and isinstance(hyper, dict) and hyper.get("num_episodes_between_training") != 1:
        problems.append(
            "SAC needs num_episodes_between_training = 1 in hyperparameters, "
            f"not {hyper.get('num_episodes_between_training')!r}"
        )
    return algorithm


def _check_checkpoint_files(checkpoints: Mapping[str, Any], sizes: Mapping[str, int], problems: list[str]) -> None:
    names = []
    for key in ("last_checkpoint", "best_checkpoint"):
        entry = checkpoints.get(key)
        if isinstance(entry, dict) and entry.get("name"):
            names.append(str(entry["name"]))
    if not names:
        problems.append("model/deepracer_checkpoints.json names no checkpoint")
        return
    for stem in dict.fromkeys(names):
        wanted = [f"model/{stem}.index", f"model/{stem}.meta"]
        lacking = [p for p in wanted if p not in sizes]
        if not any(p.startswith(f"model/{stem}.data-") for p in sizes):
            lacking.append(f"model/{stem}.data-*")
        if lacking:
            problems.append(f"checkpoint {stem} is incomplete: {', '.join(lacking)} missing")


# --------------------------------------------------------------------------- models

#: Model states in which DRoA accepts a delete.
DELETABLE = frozenset({"READY", "ERROR"})
#: Poll interval DRfC's scripts use while an asset is being packaged.
ASSET_POLL_SECONDS = 5.0
ASSET_TIMEOUT_SECONDS = 300.0
IMPORT_POLL_SECONDS = 10.0
IMPORT_TIMEOUT_SECONDS = 3600.0


def created_text(value: Any) -> str:
    """``2026-05-01T12:34:56.789Z`` -> ``2026-05-01 12:34:56``."""
    return str(value or "")[:19].replace("T", " ")


def sorted_models(models: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Newest first, as the DRoA console lists them."""
    return sorted(models, key=lambda m: str(m.get("createdAt") or ""), reverse=True)


def model_row(model: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    return (
        str(model.get("modelId", "")),
        str(model.get("name", "")),
        str(model.get("status", "")),
        str(model.get("trainingStatus", "")),
        created_text(model.get("createdAt")),
    )


def model_details(model: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value pairs for ``drfc models get``; empty values are left out."""
    car = model.get("carCustomization") or {}
    training = model.get("trainingConfig") or {}
    track = training.get("trackConfig") or {}
    meta = model.get("metadata") or {}
    sensors = meta.get("sensors") or {}
    space = meta.get("actionSpace") or {}
    if "discrete" in space:
        action_space = f"discrete, {len(space['discrete'] or [])} actions"
    elif "continous" in space or "continuous" in space:
        c = space.get("continous") or space.get("continuous") or {}
        action_space = (
            f"continuous, speed {c.get('lowSpeed')}–{c.get('highSpeed')} m/s, "
            f"steering {c.get('lowSteeringAngle')}–{c.get('highSteeringAngle')}°"
        )
    else:
        action_space = ""
    size = model.get("fileSizeInBytes")
    rows = [
        ("model id", model.get("modelId")),
        ("name", model.get("name")),
        ("description", model.get("description")),
        ("status", model.get("status")),
        ("training status", model.get("trainingStatus")),
        ("created", created_text(model.get("createdAt"))),
        ("size", f"{size} bytes" if size else None),
        ("import error", model.get("importErrorMessage")),
        ("packaging status", model.get("packagingStatus")),
        ("car", " ".join(str(v) for v in (car.get("carShell"), car.get("carColor")) if v)),
        ("track", " ".join(str(v) for v in (track.get("trackId"), track.get("trackDirection")) if v)),
        ("race type", training.get("raceType")),
        ("algorithm", meta.get("agentAlgorithm")),
        ("sensors", ", ".join(str(v) for v in (sensors.get("camera"), sensors.get("lidar")) if v)),
        ("action space", action_space),
    ]
    return [(label, str(value)) for label, value in rows if value not in (None, "")]


def asset_file_name(url: str, model_id: str, asset_type: str) -> str:
    """A local name for a downloaded asset: the URL's file name (with the model id), else ``<id>_<type>.bin``."""
    from urllib.parse import unquote, urlsplit

    base = unquote(urlsplit(url).path.rsplit("/", 1)[-1]).strip()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")
    if not base:
        return f"{model_id}_{asset_type}.bin"
    return base if model_id in base else f"{model_id}-{base}"


def wait_for_model(
    get: Callable[[], Mapping[str, Any]],
    *,
    interval: float = IMPORT_POLL_SECONDS,
    timeout: float = IMPORT_TIMEOUT_SECONDS,
    on_status: Callable[[str, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Mapping[str, Any]:
    """Poll ``get()`` (one model) until it is READY; ERROR raises with DRoA's reason, so does the timeout.

    Polls come quickly at first (1 s, then doubling) and then every ``interval`` seconds, so a
    refusal early in DRoA's workflow is seen at once. ``on_status(status, elapsed)`` is called
    after every poll, for a progress line.
    """
    start = clock()
    delay = min(1.0, interval)
    while True:
        model = get()
        status = str(model.get("status") or "UNKNOWN")
        elapsed = clock() - start
        if on_status:
            on_status(status, elapsed)
        if status == "READY":
            return model
        if status == "ERROR":
            reason = model.get("importErrorMessage") or "no reason given"
            raise DroaImportError(
                f"the import of model {model.get('name')!r} ({model.get('modelId')}) ended in ERROR: {reason}",
                hint=f"see `drfc models get {model.get('modelId')}`; delete it with `drfc models delete "
                f"{model.get('modelId')}`",
            )
        if elapsed >= timeout:
            raise DroaError(
                f"model {model.get('modelId')} is still {status} after {elapsed:.0f} s",
                hint=f"it may still finish: check with `drfc models get {model.get('modelId')}`",
            )
        sleep(max(0.0, min(delay, timeout - elapsed)))
        delay = min(delay * 2, interval)


def wait_for_asset(
    get: Callable[[], Mapping[str, Any]],
    *,
    interval: float = ASSET_POLL_SECONDS,
    timeout: float = ASSET_TIMEOUT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """The download URL of an asset, polling while DRoA packages it (``{"status": "QUEUED"}``)."""
    start = clock()
    while True:
        answer = get()
        url = answer.get("url")
        if url:
            return str(url)
        status = answer.get("status")
        if status not in ("QUEUED", "IN_PROGRESS"):
            raise DroaError(f"DeepRacer on AWS returned no download URL (status {status or 'none'})")
        if clock() - start >= timeout:
            raise DroaError(f"the asset is still {status} after {timeout:.0f} s; try again later")
        sleep(interval)


# --------------------------------------------------------------------------- the import, end to end


class Importer(Protocol):
    """What the import needs of the DRoA client (``drfc.adapters.droa.DroaClient``)."""

    def import_model(self, body: dict[str, str]) -> str: ...


@dataclass(frozen=True)
class ImportPlan:
    """A model ready to import: the DRoA-layout bundle, where it will be uploaded, and the pre-flight verdict."""

    site: DroaSite
    bundle: Bundle
    listing: tuple[RemoteObject, ...]
    upload_prefix: str
    name: str
    description: str | None
    preflight: Preflight

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site.url,
            "name": self.name,
            "description": self.description,
            "s3Bucket": self.site.upload_bucket,
            "s3Path": self.upload_prefix,
            **self.bundle.to_dict(),
            "preflight": self.preflight.to_dict(),
        }


def direction_overrides(bundle: Bundle, reverse_default: bool) -> dict[str, Any]:
    """``TRACK_DIRECTION_CLOCKWISE`` for a training YAML whose WORLD_NAME carries no ``_cw``/``_ccw``.

    The planner sets it from a suffix; without one only the track's default direction
    (and the run's reverse flag, REVERSE_DIR or DR_TRAIN_REVERSE_DIRECTION) can tell.
    """
    item = bundle.item("training_params.yaml")
    if item is None or item.content is None:
        return {}
    params = yaml.safe_load(item.content) or {}
    if not isinstance(params, dict) or "TRACK_DIRECTION_CLOCKWISE" in params:
        return {}
    world = params.get("WORLD_NAME")
    if not isinstance(world, str):
        return {}
    reverse = params.get("REVERSE_DIR")
    _track, clockwise = droa_direction(world, reverse if isinstance(reverse, bool) else reverse_default)
    return {"TRACK_DIRECTION_CLOCKWISE": clockwise}


def with_params_overrides(bundle: Bundle, overrides: Mapping[str, Any], *, bucket: str, prefix: str) -> Bundle:
    """``bundle`` with its generated training YAML rewritten with ``overrides``.

    The generator is run again on its own output, which it leaves as it is apart from the
    overrides, so the source model need not be listed and read a second time.
    """
    from drfc.core.upload import training_params_for_target

    item = bundle.item("training_params.yaml")
    if item is None or item.content is None:
        return bundle
    content = training_params_for_target(
        yaml.safe_load(item.content), target_bucket=bucket, target_prefix=prefix, layout="droa", overrides=overrides
    )
    rewritten = dataclasses.replace(item, content=content, size=len(content))
    return dataclasses.replace(bundle, items=tuple(rewritten if i is item else i for i in bundle.items))


def bundle_reader(bundle: Bundle, read: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Bytes of a bundle path: generated content, else the source object through ``read(key)``."""

    def get(target: str) -> bytes:
        item = bundle.item(target)
        if item is None:
            raise KeyError(target)
        if item.content is not None:
            return item.content
        assert item.source_key is not None
        return read(item.source_key)

    return get


def plan_import(
    store: S3Store,
    source: ModelSource,
    *,
    site: DroaSite,
    choice: str | int,
    name: str,
    description: str | None = None,
    reverse_default: bool = False,
    token: str | None = None,
) -> ImportPlan:
    """Plan the DRoA bundle of one checkpoint and run the pre-flight checks on it; nothing is uploaded."""
    from drfc.core.upload import plan_model

    prefix = new_upload_prefix(token)
    bundle, listing = plan_model(
        store, source, choice=choice, target_bucket=site.upload_bucket, target_prefix=prefix, layout="droa"
    )
    overrides = direction_overrides(bundle, reverse_default)
    if overrides:
        bundle = with_params_overrides(bundle, overrides, bucket=site.upload_bucket, prefix=prefix)
    sizes = {item.target: item.size for item in bundle.items}
    files = ImportFiles.from_reader(sizes, bundle_reader(bundle, store.get_bytes))
    return ImportPlan(site, bundle, tuple(listing), prefix, name, description, preflight(files, name, description))


def run_import(
    plan: ImportPlan,
    client: Importer,
    *,
    source: S3Store,
    target: S3Store,
    progress: SyncProgress | None = None,
) -> str:
    """Upload the bundle to the upload bucket, then ``POST /importmodel``; DRoA's new model id.

    DRoA's roles may only *put* objects into the upload bucket (no list, no get), so
    nothing is listed or read back: every object is new under a fresh uuid prefix.
    """
    from drfc.core.upload import execute_transfer, plan_transfer

    plan.preflight.raise_for_problems(plan.name)
    sources = {o.key: o for o in plan.listing}
    transfer = plan_transfer(plan.bundle.items, sources, (), plan.upload_prefix)
    execute_transfer(transfer, source=source, target=target, progress=progress)
    return client.import_model(import_request(plan.site.upload_bucket, plan.upload_prefix, plan.name, plan.description))
