"""DeepRacer on AWS rules without any I/O: env.js, names, tracks and cars, pre-flight checks, the import body,
polling, the credential cache record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from drfc.core.droa import (
    CCW,
    CW,
    MAX_BYTES,
    REQUIRED_FILES,
    SIMAPP_SHELLS,
    TRACKS,
    ImportFiles,
    Login,
    TemporaryCredentials,
    asset_file_name,
    cache_file_name,
    description_problem,
    direction_overrides,
    droa_direction,
    import_request,
    js_object_to_json,
    model_details,
    model_name_problem,
    new_upload_prefix,
    parse_env_js,
    preflight,
    sorted_models,
    suggest_model_name,
    wait_for_asset,
    wait_for_model,
    with_params_overrides,
)
from drfc.core.upload import plan_bundle
from drfc.errors import DroaError, DroaImportError
from tests.support.model_prefix import Reads, listing, trained_model

SITE = "https://d111.cloudfront.net"
CONFIG = {
    "apiEndpointUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/prod/",
    "region": "eu-west-1",
    "userPoolId": "eu-west-1_AbC",
    "userPoolClientId": "client123",
    "identityPoolId": "eu-west-1:1234-5678",
    "uploadBucketName": "droa-upload-bucket",
    "iotEndpoint": "x-ats.iot.eu-west-1.amazonaws.com",
    "solutionVersion": "v1.2.5",
    "namespace": "prod",
}


# ----------------------------------------------------------------------------- env.js


def test_env_js_as_json() -> None:
    site = parse_env_js(f"window.EnvironmentConfig = {json.dumps(CONFIG)};\n", SITE + "/")
    assert site.url == SITE
    assert site.api_endpoint_url == CONFIG["apiEndpointUrl"]
    assert (site.region, site.upload_bucket, site.solution_version) == ("eu-west-1", "droa-upload-bucket", "v1.2.5")
    assert site.login_provider == "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
    assert site.api_url("/models") == "https://abc.execute-api.eu-west-1.amazonaws.com/prod/models"


def test_env_js_as_a_javascript_object_literal() -> None:
    literal = (
        "// generated\nwindow.EnvironmentConfig = {\n"
        + "".join(f"  {key}: '{value}', /* {key} */\n" for key, value in CONFIG.items())
        + "};"
    )
    assert parse_env_js(literal, SITE) == parse_env_js(f"window.EnvironmentConfig = {json.dumps(CONFIG)};", SITE)


def test_js_object_to_json_leaves_strings_alone() -> None:
    literal = """{a: 'it''s', "b": "x: 1, y: 2", c: [1, 2,], d: true, e: 'say "hi"', url: 'https://h/p',}"""
    literal = literal.replace("'it''s'", "'it\\'s'")
    assert json.loads(js_object_to_json(literal)) == {
        "a": "it's",
        "b": "x: 1, y: 2",
        "c": [1, 2],
        "d": True,
        "e": 'say "hi"',
        "url": "https://h/p",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<html>not the site</html>", "does not define window.EnvironmentConfig"),
        ("window.EnvironmentConfig = {region: };", "cannot parse the configuration"),
        ('window.EnvironmentConfig = {"region": "x"};', "lacks apiEndpointUrl, userPoolId"),
        (
            "window.EnvironmentConfig = " + json.dumps({**CONFIG, "apiEndpointUrl": "ftp://x"}) + ";",
            "is not an http(s) URL",
        ),
    ],
)
def test_env_js_problems_are_droa_errors(text: str, message: str) -> None:
    with pytest.raises(DroaError) as failed:
        parse_env_js(text, SITE)
    assert message in failed.value.message and failed.value.exit_code == 40


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["a", "My-Model-01", "x" * 64])
def test_valid_model_names(name: str) -> None:
    assert model_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "under_score", "dot.ted", "sub/dir", "spa ce", "x" * 65])
def test_invalid_model_names_say_the_rule_and_suggest_one(name: str) -> None:
    problem = model_name_problem(name)
    assert problem is not None and "letters, digits and hyphens only, at most 64" in problem
    assert model_name_problem(suggest_model_name(name)) is None


def test_suggested_names() -> None:
    assert suggest_model_name("rl-deepracer/sub_1.2") == "rl-deepracer-sub-1-2"
    assert suggest_model_name("__a__") == "a"
    assert suggest_model_name("...") == "drfc-model"
    assert len(suggest_model_name("a-" * 40)) <= 64 and not suggest_model_name("a-" * 40).endswith("-")


def test_descriptions() -> None:
    assert description_problem(None) is None and description_problem("Fast model - v2") is None
    assert description_problem("v2.0!") is not None
    assert description_problem("x" * 256) is not None


# ----------------------------------------------------------------------------- tracks and directions


def test_the_track_table_is_droa_1_2_5s() -> None:
    assert len(TRACKS) == 62
    two_way = [t for t in TRACKS.values() if len(t.directions) == 2]
    assert len(two_way) == 29
    assert [t.track_id for t in two_way if t.default_direction == CW] == ["reInvent2019_wide"]
    assert TRACKS["Albert"].directions == (CW,) and TRACKS["reinvent_base"].directions == (CCW,)
    assert SIMAPP_SHELLS["f1_car_tron_05"] == ("TRON", "SKY_BLUE")


@pytest.mark.parametrize(
    ("world", "reverse", "expected"),
    [
        ("reInvent2019_wide_ccw", False, ("reInvent2019_wide", False)),  # the suffix decides
        ("2022_april_open_cw", True, ("2022_april_open", True)),
        ("reInvent2019_wide", False, ("reInvent2019_wide", True)),  # default clockwise
        ("reInvent2019_wide", True, ("reInvent2019_wide", False)),
        ("2022_april_open", False, ("2022_april_open", False)),  # default counter-clockwise (DRfC guessed True)
        ("2022_april_open", True, ("2022_april_open", True)),
    ],
)
def test_direction_from_suffix_or_the_tracks_default(world: str, reverse: bool, expected: tuple[str, bool]) -> None:
    assert droa_direction(world, reverse) == expected


@pytest.mark.parametrize("reverse", [False, True])
def test_the_direction_override_rewrites_only_the_training_yaml_as_planning_with_it_would(reverse: bool) -> None:
    objects = trained_model("m", world="2022_april_open")
    key = "m/training_params.yaml"
    objects[key] = objects[key].replace(b"'REVERSE_DIR': 'False'", f"'REVERSE_DIR': '{reverse}'".encode())

    def plan(overrides: Mapping[str, Any] | None = None) -> Any:
        return plan_bundle(
            listing(objects),
            Reads(objects),
            source_prefix="m",
            choice="last",
            target_bucket="up",
            target_prefix="uploads/models/u",
            layout="droa",
            params_overrides=overrides,
        )

    first = plan()
    overrides = direction_overrides(first, reverse_default=False)
    assert overrides == {"TRACK_DIRECTION_CLOCKWISE": reverse}  # the track runs counter-clockwise by default
    assert with_params_overrides(first, overrides, bucket="up", prefix="uploads/models/u") == plan(overrides)


# ----------------------------------------------------------------------------- pre-flight

CKPT = "3_Step-3007.ckpt"
PARAMS = {
    "WORLD_NAME": "reInvent2019_wide",
    "TRACK_DIRECTION_CLOCKWISE": True,
    "BODY_SHELL_TYPE": "deepracer",
    "CAR_COLOR": "Red",
    "RACE_TYPE": "TIME_TRIAL",
}
METADATA = {
    "action_space": [{"steering_angle": -30, "speed": 0.6}, {"steering_angle": 30, "speed": 0.6}],
    "action_space_type": "discrete",
    "training_algorithm": "clipped_ppo",
    "sensor": ["FRONT_FACING_CAMERA"],
}
CONTINUOUS = {
    "action_space": {"speed": {"low": 0.5, "high": 3.0}, "steering_angle": {"low": -30, "high": 30}},
    "action_space_type": "continuous",
    "training_algorithm": "sac",
}


def files(
    params: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    hyper: Mapping[str, Any] | None = None,
    *,
    drop: tuple[str, ...] = (),
    extra: Mapping[str, int] | None = None,
) -> ImportFiles:
    sizes = {path: 100 for path in REQUIRED_FILES}
    sizes.update({f"model/{CKPT}.index": 10, f"model/{CKPT}.meta": 10, f"model/{CKPT}.data-00000-of-00001": 1000})
    sizes.update(extra or {})
    for path in drop:
        sizes.pop(path, None)
    record = {"last_checkpoint": {"name": CKPT}, "best_checkpoint": {"name": CKPT}}
    return ImportFiles(
        sizes=sizes,
        training_params=yaml.safe_dump(dict(PARAMS if params is None else params)).encode(),
        model_metadata=json.dumps(METADATA if metadata is None else metadata).encode(),
        hyperparameters=json.dumps(hyper or {"num_episodes_between_training": 20}).encode(),
        checkpoints=json.dumps(record).encode(),
    )


def problems(f: ImportFiles, name: str = "good-name", description: str | None = None) -> list[str]:
    return list(preflight(f, name, description).problems)


def test_a_good_bundle_passes_and_says_what_droa_will_make_of_it() -> None:
    check = preflight(files(), "good-name", "a description")
    assert check.ok and check.warnings == ()
    assert (check.track, check.direction, check.car) == ("reInvent2019_wide", CW, ("DEEPRACER", "RED"))
    assert (check.algorithm, check.race_type, check.files) == ("PPO", "TIME_TRIAL", 10)
    check.raise_for_problems("good-name")  # no exception


def test_names_are_checked_with_the_rest() -> None:
    found = problems(files(), "bad_name", "bad!")
    assert len(found) == 2 and "model name 'bad_name'" in found[0] and "description" in found[1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"WORLD_NAME": "my_custom_track"}, "is not a DeepRacer on AWS track (custom tracks cannot be imported)"),
        ({"WORLD_NAME": "reInvent2019_wid"}, "did you mean reInvent2019_wide?"),
        ({"WORLD_NAME": "reInvent2019_wide_ccw"}, "carries a direction suffix; DeepRacer on AWS expects"),
        ({"WORLD_NAME": None}, "has no WORLD_NAME"),
        ({"TRACK_DIRECTION_CLOCKWISE": "True"}, "must be a YAML boolean"),
        ({"CAR_COLOR": "Yellow"}, "car shell deepracer is not available in colour Yellow"),
        ({"RACE_TYPE": "OBJECT_AVOIDANCE", "NUMBER_OF_OBSTACLES": "3"}, "NUMBER_OF_OBSTACLES must be a YAML integer"),
        ({"RACE_TYPE": "OBJECT_AVOIDANCE", "NUMBER_OF_OBSTACLES": 7}, "from 1 to 6"),
        (
            {"RACE_TYPE": "OBJECT_AVOIDANCE", "NUMBER_OF_OBSTACLES": 2, "RANDOMIZE_OBSTACLE_LOCATIONS": "False"},
            "RANDOMIZE_OBSTACLE_LOCATIONS must be a YAML boolean",
        ),
        (
            {"RACE_TYPE": "OBJECT_AVOIDANCE", "NUMBER_OF_OBSTACLES": 2, "OBJECT_POSITIONS": ["0.05,1", "0.5,-1"]},
            "first obstacle must be at 0.07",
        ),
        (
            {"RACE_TYPE": "OBJECT_AVOIDANCE", "NUMBER_OF_OBSTACLES": 2, "OBJECT_POSITIONS": ["0.3,1", "0.35,-1"]},
            "at least 0.13 of the lap apart",
        ),
        (
            {"RACE_TYPE": "OBJECT_AVOIDANCE", "NUMBER_OF_OBSTACLES": 3, "OBJECT_POSITIONS": ["0.3,1", "0.6,-1"]},
            "2 OBJECT_POSITIONS for 3 obstacles",
        ),
    ],
)
def test_training_params_droa_would_refuse(change: dict[str, Any], message: str) -> None:
    params = {**PARAMS, **change}
    params = {k: v for k, v in params.items() if v is not None}
    found = problems(files(params))
    assert any(message in p for p in found), found


@pytest.mark.parametrize("world", ["reInvent2019_wide_cw", "reInvent2019_wide_ccw"])
def test_a_world_name_with_a_direction_suffix_is_reported_under_its_bare_track(world: str) -> None:
    check = preflight(files({**PARAMS, "WORLD_NAME": world}), "good-name")
    assert check.track == "reInvent2019_wide", check  # either direction: the suffix is what DRoA refuses
    assert any("carries a direction suffix" in p for p in check.problems)
    assert not any("is not a DeepRacer on AWS track" in p for p in check.problems)


def test_object_avoidance_with_valid_or_random_positions_passes() -> None:
    oa = {**PARAMS, "RACE_TYPE": "OBJECT_AVOIDANCE", "NUMBER_OF_OBSTACLES": 3}
    assert problems(files({**oa, "OBJECT_POSITIONS": "0.1,1;0.4,-1;0.8,1"})) == []
    assert problems(files({**oa, "OBJECT_POSITIONS": ["0.0,1"], "RANDOMIZE_OBSTACLE_LOCATIONS": True})) == []


def test_what_droa_changes_silently_is_a_warning() -> None:
    check = preflight(files({**PARAMS, "BODY_SHELL_TYPE": "my_custom_shell", "RACE_TYPE": "HEAD_TO_BOT"}), "n")
    assert check.ok and check.car == ("DEEPRACER", "WHITE")
    assert any("unknown to DeepRacer on AWS" in w for w in check.warnings)
    assert any("HEAD_TO_BOT imports as TIME_TRIAL" in w for w in check.warnings)
    single = preflight(files({**PARAMS, "WORLD_NAME": "Albert", "TRACK_DIRECTION_CLOCKWISE": False}), "n")
    assert single.ok and single.direction == CW and "TRACK_DIRECTION_CLOCKWISE is ignored" in single.warnings[0]
    assert preflight(files({**PARAMS, "BODY_SHELL_TYPE": "f1_car_tron_02"}), "n").car == ("TRON", "RED")


def test_sac_needs_a_continuous_action_space_and_one_episode_between_training() -> None:
    discrete_sac = {**METADATA, "training_algorithm": "sac"}
    assert any("SAC needs a continuous action space" in p for p in problems(files(metadata=discrete_sac)))
    found = problems(files(metadata=CONTINUOUS))
    assert found == ["SAC needs num_episodes_between_training = 1 in hyperparameters, not 20"]
    assert problems(files(metadata=CONTINUOUS, hyper={"num_episodes_between_training": 1})) == []


def test_continuous_bounds_and_a_mismatched_action_space_type() -> None:
    bad = {**CONTINUOUS, "training_algorithm": "clipped_ppo"}
    bad["action_space"] = {"speed": {"low": 2.0, "high": 1.0}, "steering_angle": {"low": -30, "high": 30}}
    assert problems(files(metadata=bad)) == ["continuous action space: speed.low (2.0) must be below speed.high (1.0)"]
    mismatched = {**METADATA, "action_space_type": "continuous"}
    assert problems(files(metadata=mismatched)) == [
        "model_metadata.json: action_space_type is continuous but action_space is discrete"
    ]


def test_missing_files_an_incomplete_checkpoint_and_the_limits() -> None:
    found = problems(files(drop=("ip/hyperparameters.json", "model/.coach_checkpoint")))
    assert found[0] == "required files missing from the bundle: ip/hyperparameters.json, model/.coach_checkpoint"
    found = problems(files(drop=(f"model/{CKPT}.data-00000-of-00001",)))
    assert found == [f"checkpoint {CKPT} is incomplete: model/{CKPT}.data-* missing"]
    many = {f"metrics/training/training-{i}.json": 1 for i in range(991)}
    assert problems(files(extra=many)) == ["1001 files; DeepRacer on AWS imports at most 1000"]
    big = {"model/model_3.pb": MAX_BYTES}
    assert any("imports less than 1 GiB" in p for p in problems(files(extra=big)))
    assert problems(files(extra={"logs.tar.gz": 5})) == ["archives are not accepted in an import: logs.tar.gz"]


def test_unparsable_files_are_problems_not_crashes() -> None:
    broken = ImportFiles(
        sizes=files().sizes, training_params=b"a: [", model_metadata=b"{", hyperparameters=b"{}", checkpoints=b"[]"
    )
    found = problems(broken)
    assert any(p.startswith("training_params.yaml cannot be parsed") for p in found)
    assert any(p.startswith("model_metadata.json cannot be parsed") for p in found)


def test_problems_raise_one_import_error_listing_them_all() -> None:
    check = preflight(
        files({**PARAMS, "WORLD_NAME": "nowhere"}, metadata={**METADATA, "training_algorithm": "sac"}), "x"
    )
    with pytest.raises(DroaImportError) as failed:
        check.raise_for_problems("x")
    assert failed.value.exit_code == 40 and len(failed.value.problems) == 3
    assert "nothing was uploaded" in failed.value.message
    assert all(f"• {p}" in failed.value.message for p in failed.value.problems)


# ----------------------------------------------------------------------------- the request and the upload


def test_import_request_body_and_upload_prefix() -> None:
    assert import_request("b", "uploads/models/u/", "m") == {
        "s3Bucket": "b",
        "s3Path": "uploads/models/u",
        "modelName": "m",
    }
    assert import_request("b", "p", "m", "d")["modelDescription"] == "d"
    assert new_upload_prefix("fixed") == "uploads/models/fixed"
    token = new_upload_prefix().rsplit("/", 1)[1]
    assert len(token) == 36 and token.count("-") == 4


# ----------------------------------------------------------------------------- polling


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def statuses(*values: str, **extra: Any) -> Any:
    answers = iter(values)

    def get() -> dict[str, Any]:
        return {"modelId": "abc123", "name": "m", "status": next(answers), **extra}

    return get


def test_wait_reports_progress_until_ready() -> None:
    clock, seen = Clock(), []
    model = wait_for_model(
        statuses("IMPORTING", "IMPORTING", "READY"),
        interval=10,
        timeout=100,
        on_status=lambda s, t: seen.append((s, t)),
        sleep=clock.sleep,
        clock=clock,
    )
    assert model["status"] == "READY"
    assert seen == [("IMPORTING", 0.0), ("IMPORTING", 1.0), ("READY", 3.0)] and clock.sleeps == [1, 2]


def test_wait_polls_quickly_first_then_every_interval() -> None:
    clock = Clock()
    wait_for_model(statuses(*["IMPORTING"] * 7, "READY"), interval=10, timeout=100, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [1, 2, 4, 8, 10, 10, 10]


def test_wait_raises_the_import_error_reason() -> None:
    clock = Clock()
    get = statuses("IMPORTING", "ERROR", importErrorMessage="Model validation failed: bad checkpoint")
    with pytest.raises(DroaImportError, match="ended in ERROR: Model validation failed: bad checkpoint"):
        wait_for_model(get, interval=1, timeout=100, sleep=clock.sleep, clock=clock)


def test_wait_gives_up_at_the_timeout_and_says_how_to_check_later() -> None:
    clock = Clock()
    with pytest.raises(DroaError, match="still IMPORTING after 30 s") as failed:
        wait_for_model(statuses(*["IMPORTING"] * 10), interval=10, timeout=30, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [1, 2, 4, 8, 10, 5]  # the last sleep ends at the timeout
    assert "drfc models get abc123" in (failed.value.hint or "")


def test_wait_for_asset() -> None:
    clock = Clock()
    answers = iter([{"status": "QUEUED"}, {"status": "QUEUED"}, {"url": "https://x/y.tar.gz"}])
    assert wait_for_asset(lambda: next(answers), interval=5, sleep=clock.sleep, clock=clock) == "https://x/y.tar.gz"
    assert clock.sleeps == [5, 5]
    with pytest.raises(DroaError, match="no download URL"):
        wait_for_asset(lambda: {"status": "FAILED"}, sleep=clock.sleep, clock=clock)


# ----------------------------------------------------------------------------- cache record and rendering


def test_the_login_record_round_trips_and_never_shows_secrets_in_repr() -> None:
    credentials = TemporaryCredentials(
        "ASIAKEY", "s3cr3t-key", "t0ken", datetime(2026, 1, 1, 12, tzinfo=timezone.utc), "id-1"
    )
    login = Login(SITE, "Racer", credentials, "refresh-t0ken")
    assert Login.from_json(login.to_json()) == login
    assert "s3cr3t-key" not in repr(login) and "t0ken" not in repr(login)
    assert Login.from_json("not json") is None and Login.from_json('{"site": 1}') is None
    assert credentials.usable(credentials.expiration - timedelta(minutes=10))
    assert not credentials.usable(credentials.expiration - timedelta(minutes=4))


def test_cache_file_names_are_per_pool_and_case_insensitive_user() -> None:
    assert cache_file_name("pool", "Racer@Example.com") == cache_file_name("pool", "racer@example.com ")
    assert cache_file_name("pool", "a") != cache_file_name("other", "a")
    assert cache_file_name("pool", "a").endswith(".json") and len(cache_file_name("pool", "a")) == 21


def test_models_sort_newest_first_and_details_skip_empty_values() -> None:
    models = [{"modelId": "a", "createdAt": "2026-01-01T00:00:00Z"}, {"modelId": "b", "createdAt": "2026-02-01"}]
    assert [m["modelId"] for m in sorted_models(models)] == ["b", "a"]
    details = dict(
        model_details(
            {
                "modelId": "abc",
                "name": "m",
                "status": "ERROR",
                "createdAt": "2026-05-01T12:34:56.789Z",
                "importErrorMessage": "bad",
                "description": "",
                "metadata": {"actionSpace": {"continous": {"lowSpeed": 1, "highSpeed": 2, "lowSteeringAngle": -5}}},
            }
        )
    )
    assert details["created"] == "2026-05-01 12:34:56" and details["import error"] == "bad"
    assert "description" not in details and details["action space"].startswith("continuous, speed 1–2 m/s")


def test_asset_file_names() -> None:
    assert asset_file_name("https://b.s3/x/logs.tar.gz?X-Amz=1", "abc", "TRAINING_LOGS") == "abc-logs.tar.gz"
    assert asset_file_name("https://b.s3/abc/model.tar.gz", "abc", "VIRTUAL_MODEL") == "abc-model.tar.gz"
    assert asset_file_name("https://b.s3/abc-logs.tgz", "abc", "TRAINING_LOGS") == "abc-logs.tgz"
    assert asset_file_name("https://b.s3/", "abc", "VIDEOS") == "abc_VIDEOS.bin"
