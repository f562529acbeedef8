"""The DRoA client (drfc.adapters.droa) against the DeepRacer on AWS test double (tests/support/droa_double.py).

No real deployment can run here; the double serves env.js, Cognito (moto in server mode) and the API
over real HTTP, verifies every SigV4 signature itself with the credentials its identity pool issued,
and imports models from its moto S3 upload bucket. So these tests exercise the real sign-in, the real
signing and the real upload, and they fail if any of them is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from drfc.adapters.droa import DroaClient, fetch_site
from drfc.adapters.s3 import S3Store
from drfc.core.droa import DroaSite, Login, plan_import, run_import, wait_for_asset, wait_for_model
from drfc.core.storage import S3Target
from drfc.core.upload import ModelSource
from drfc.errors import (
    DroaAuthError,
    DroaCredentialsExpiredError,
    DroaError,
    DroaImportError,
    DroaRequestError,
    DroaUnreachableError,
)
from tests.support.drfc_home import isolate_environment
from tests.support.droa_double import REGION, UPLOAD_BUCKET, DroaDouble
from tests.support.model_prefix import ckpt_name, trained_model
from tests.support.s3server import free_port

pytestmark = pytest.mark.s3

USER, PASSWORD = "racer@example.com", "Corr3ct-Horse!"
LOCAL = "local-bucket"
MODEL = "rl-model"


@pytest.fixture
def droa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DroaDouble:
    """A fresh fake deployment with one racer; Cognito and S3 endpoints pointed at its moto."""
    double = DroaDouble.shared()
    double.reset()
    isolate_environment(tmp_path, monkeypatch)
    for key, value in double.client_env().items():
        monkeypatch.setenv(key, value)
    double.add_user(USER, PASSWORD)
    return double


class Password:
    """The password callable; counts how often the client needed it."""

    def __init__(self, value: str = PASSWORD) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.value


def make_client(droa: DroaDouble, tmp_path: Path, password: Callable[[], str] | None = None, **kw: Any) -> DroaClient:
    site = fetch_site(droa.site_url)
    return DroaClient(site, USER, password=password or Password(), cache_dir=tmp_path / "cache" / "droa", **kw)


# ----------------------------------------------------------------------------- discovery


@pytest.mark.parametrize("style", ["json", "js"])
def test_the_site_is_discovered_from_env_js_in_json_or_javascript_form(droa: DroaDouble, style: str) -> None:
    droa.env_style = style
    site = fetch_site(droa.site_url + "/")
    assert site == DroaSite(
        url=droa.site_url,
        api_endpoint_url=droa.api_url,
        region=REGION,
        user_pool_id=droa.user_pool_id,
        user_pool_client_id=droa.client_id,
        identity_pool_id=droa.identity_pool_id,
        upload_bucket=UPLOAD_BUCKET,
        solution_version="v1.2.5",
        namespace="double",
    )


def test_an_unreachable_site_and_a_site_without_env_js_are_droa_errors(droa: DroaDouble) -> None:
    with pytest.raises(DroaUnreachableError, match="cannot reach DeepRacer on AWS") as down:
        fetch_site(f"http://127.0.0.1:{free_port()}")
    assert down.value.exit_code == 40 and "DR_DROA_URL" in (down.value.hint or "")
    with pytest.raises(DroaError, match="answered HTTP 404"):
        fetch_site(droa.site_url + "/not-the-site")


# ----------------------------------------------------------------------------- sign-in and the cache


def test_sign_in_caches_the_login_in_a_private_file_and_the_next_client_reuses_it(
    droa: DroaDouble, tmp_path: Path
) -> None:
    password = Password()
    client = make_client(droa, tmp_path, password)
    credentials = client.credentials()
    assert password.calls == 1 and client.credentials_source == "password"
    assert credentials.access_key_id in droa.issued  # issued by the double's identity pool
    assert droa.issued[credentials.access_key_id].username == USER

    cache = client.cache_file
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache.parent).st_mode) == 0o700
    text = cache.read_text()
    assert PASSWORD not in text
    assert json.loads(text)["accessKeyId"] == credentials.access_key_id
    assert credentials.secret_key not in repr(credentials) and credentials.session_token not in repr(credentials)

    again = make_client(droa, tmp_path, Password("never used"))
    assert again.list_models() == []
    assert again.credentials_source == "cache" and again.credentials() == credentials


def test_credentials_near_expiry_are_renewed_with_the_refresh_token_without_the_password(
    droa: DroaDouble, tmp_path: Path
) -> None:
    first = make_client(droa, tmp_path)
    old = first.credentials()
    login = Login.from_json(first.cache_file.read_text())
    assert login is not None
    expired = dataclasses.replace(login.credentials, expiration=datetime.now(timezone.utc))
    first.cache_file.write_text(Login(login.site, login.username, expired, login.refresh_token).to_json())

    password = Password()
    client = make_client(droa, tmp_path, password)
    assert client.list_models() == []
    assert password.calls == 0 and client.credentials_source == "refresh-token"
    renewed = client.credentials()
    assert renewed.access_key_id != old.access_key_id
    assert renewed.expiration > datetime.now(timezone.utc) + timedelta(minutes=30)
    assert json.loads(client.cache_file.read_text())["accessKeyId"] == renewed.access_key_id


def test_credentials_the_api_calls_expired_are_renewed_once_and_the_call_repeated(
    droa: DroaDouble, tmp_path: Path
) -> None:
    model_id = droa.add_model(USER, "kept")
    client = make_client(droa, tmp_path)
    before = client.credentials()
    droa.expire_credentials()  # as if the hour had passed while the cache still looks valid

    assert client.get_model(model_id)["name"] == "kept"
    assert client.credentials().access_key_id != before.access_key_id
    tail = [(r.status, r.error_type, r.access_key_id) for r in droa.requests[-2:]]
    assert tail == [
        (403, "ExpiredTokenException", before.access_key_id),
        (200, "", client.credentials().access_key_id),
    ]


def test_credentials_still_expired_after_one_renewal_are_an_error(droa: DroaDouble, tmp_path: Path) -> None:
    droa.credential_seconds = -10  # the identity pool hands out credentials that are already expired
    client = make_client(droa, tmp_path)
    with pytest.raises(DroaCredentialsExpiredError, match="still calls the credentials expired") as failed:
        client.list_models()
    assert failed.value.exit_code == 40
    assert [r.error_type for r in droa.requests] == ["ExpiredTokenException", "ExpiredTokenException"]


def test_a_wrong_password_is_an_auth_error_and_nothing_is_cached(droa: DroaDouble, tmp_path: Path) -> None:
    client = make_client(droa, tmp_path, Password("not-the-password"))
    with pytest.raises(DroaAuthError, match=r"refused the sign-in of user 'racer@example\.com'") as failed:
        client.list_models()
    assert "Incorrect username or password" in failed.value.message and failed.value.exit_code == 40
    assert not client.cache_file.exists()
    assert droa.requests == []  # the API was never called


def test_a_user_in_no_droa_group_gets_no_credentials(droa: DroaDouble, tmp_path: Path) -> None:
    droa.add_user("nogroup", PASSWORD, group=None)
    site = fetch_site(droa.site_url)
    client = DroaClient(site, "nogroup", password=Password(), cache_dir=tmp_path / "c")
    with pytest.raises(DroaAuthError, match="identity pool gave user 'nogroup'") as failed:
        client.credentials()
    assert "group" in (failed.value.hint or "")


def test_a_first_login_that_needs_a_new_password_points_to_the_web_ui(droa: DroaDouble, tmp_path: Path) -> None:
    droa.aws("cognito-idp").admin_create_user(
        UserPoolId=droa.user_pool_id, Username="invited", TemporaryPassword="Temp-0rary!", MessageAction="SUPPRESS"
    )
    site = fetch_site(droa.site_url)
    client = DroaClient(site, "invited", password=Password("Temp-0rary!"), cache_dir=tmp_path / "c")
    with pytest.raises(DroaAuthError, match="NEW_PASSWORD_REQUIRED") as failed:
        client.credentials()
    assert droa.site_url in (failed.value.hint or "")


# ----------------------------------------------------------------------------- signing


def raw_request(
    droa: DroaDouble,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(droa.api_url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def signed_headers(
    droa: DroaDouble, client: DroaClient, path: str, body: bytes | None, *, secret: str | None = None,
    service: str = "execute-api",
) -> dict[str, str]:  # fmt: skip
    c = client.credentials()
    request = AWSRequest(method="POST" if body else "GET", url=droa.api_url + path, data=body, headers={})
    SigV4Auth(Credentials(c.access_key_id, secret or c.secret_key, c.session_token), service, REGION).add_auth(request)
    return dict(request.headers.items())


def test_unsigned_and_mis_signed_requests_are_refused_and_a_correct_signature_is_accepted(
    droa: DroaDouble, tmp_path: Path
) -> None:
    client = make_client(droa, tmp_path)

    status, body, headers = raw_request(droa, "models")
    assert (status, body["message"]) == (403, "Missing Authentication Token")
    assert headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")

    status, body, headers = raw_request(droa, "models", headers=signed_headers(droa, client, "models", None))
    assert status == 200 and body == {"models": []}  # botocore's signature passes the double's own check

    wrong_key = signed_headers(droa, client, "models", None, secret="not-the-secret-key")
    status, body, headers = raw_request(droa, "models", headers=wrong_key)
    assert status == 403 and headers["x-amzn-ErrorType"].startswith("InvalidSignatureException")
    assert "signature we calculated does not match" in body["message"]

    other_service = signed_headers(droa, client, "models", None, service="s3")
    status, body, _ = raw_request(droa, "models", headers=other_service)
    assert status == 403 and "execute-api" in body["message"]

    payload = json.dumps({"modelName": "a", "s3Bucket": UPLOAD_BUCKET, "s3Path": "x"}).encode()
    sign = signed_headers(droa, client, "importmodel", payload)
    tampered = payload.replace(b'"a"', b'"b"')
    status, body, _ = raw_request(droa, "importmodel", method="POST", body=tampered, headers=sign)
    assert status == 403 and "signature we calculated does not match" in body["message"]


def test_the_client_maps_a_signature_failure_to_a_droa_error(droa: DroaDouble, tmp_path: Path) -> None:
    client = make_client(droa, tmp_path)
    client.credentials()
    real = droa.issued[client.credentials().access_key_id]
    real.secret_key = "rotated-on-the-server"  # the server now expects another key: signatures no longer match
    with pytest.raises(DroaRequestError, match="rejected the request signature") as failed:
        client.list_models()
    assert failed.value.status == 403


def test_the_firewall_lets_the_browser_like_request_through_and_blocks_a_bare_one(
    droa: DroaDouble, tmp_path: Path
) -> None:
    droa.waf_requires_browser = True
    assert make_client(droa, tmp_path).list_models() == []
    bare = make_client(droa, tmp_path, browser_headers=False)
    with pytest.raises(DroaRequestError, match="firewall blocked the request") as failed:
        bare.list_models()
    assert failed.value.status == 403


# ----------------------------------------------------------------------------- the model endpoints


def test_list_reads_every_page_and_only_the_callers_models(droa: DroaDouble, tmp_path: Path) -> None:
    droa.page_size = 2
    mine = {droa.add_model(USER, f"model-{i}") for i in range(5)}
    droa.add_model("someone-else", "not-mine")
    client = make_client(droa, tmp_path)
    found = client.list_models()
    assert {m["modelId"] for m in found} == mine
    assert sum(r.path == "/prod/models" for r in droa.requests) == 3  # 2 + 2 + 1


def test_get_delete_and_their_errors(droa: DroaDouble, tmp_path: Path) -> None:
    ready = droa.add_model(USER, "ready-one")
    busy = droa.add_model(USER, "busy-one", status="IMPORTING")
    client = make_client(droa, tmp_path)

    assert client.get_model(ready)["name"] == "ready-one"
    with pytest.raises(DroaRequestError, match="not found: Model not found") as missing:
        client.get_model("doesNotExist123")
    assert missing.value.status == 404

    client.delete_model(ready)
    assert client.get_model(ready)["status"] == "DELETING"
    with pytest.raises(DroaRequestError, match=r"refused it \(HTTP 400\): Model cannot be deleted") as refused:
        client.delete_model(busy)
    assert refused.value.status == 400


def test_an_asset_url_is_polled_while_queued_and_downloads(droa: DroaDouble, tmp_path: Path) -> None:
    from drfc.adapters.droa import download

    model_id = droa.add_model(USER, "with-logs")
    client = make_client(droa, tmp_path)
    answers: list[dict[str, Any]] = []

    def get() -> dict[str, Any]:
        answers.append(client.asset_url(model_id, "VIRTUAL_MODEL"))
        return answers[-1]

    url = wait_for_asset(get, interval=0, timeout=5)
    assert answers[0] == {"status": "QUEUED"} and len(answers) == 2
    size = download(url, tmp_path / "out" / "model.tar.gz")
    assert (tmp_path / "out" / "model.tar.gz").read_bytes() == b"VIRTUAL_MODEL of with-logs\n" * 100
    assert size == len(b"VIRTUAL_MODEL of with-logs\n") * 100
    with pytest.raises(DroaRequestError, match="Unable to find physical model artifact"):
        client.asset_url(model_id, "PHYSICAL_CAR_MODEL")
    with pytest.raises(DroaRequestError, match="not http"):
        download(f"file://{tmp_path / 'out' / 'model.tar.gz'}", tmp_path / "copy")


# ----------------------------------------------------------------------------- import


def local_store(droa: DroaDouble, objects: dict[str, bytes]) -> S3Store:
    """The working bucket (in the double's moto) holding a synthetic trained model."""
    s3 = droa.aws("s3")
    s3.create_bucket(Bucket=LOCAL)
    for key, data in objects.items():
        s3.put_object(Bucket=LOCAL, Key=key, Body=data)
    session = boto3.session.Session(
        aws_access_key_id="local-key", aws_secret_access_key="local-secret", region_name=REGION
    )
    return S3Store(S3Target(LOCAL, droa.moto_url, REGION, None, "local"), session=session, persist_checksums=False)


def upload_store(droa: DroaDouble, client: DroaClient) -> S3Store:
    site = client.site
    return S3Store(S3Target(site.upload_bucket, None, site.region, None, "upload"), session=client.s3_session())


def start_import(
    droa: DroaDouble, tmp_path: Path, objects: dict[str, bytes], operations: list[str] | None = None, **kw: Any
) -> tuple[Any, DroaClient, str]:
    """Plan, check, upload and start the import of ``objects``' model; (plan, client, model id).

    ``operations`` collects the S3 operations made with the identity pool's credentials.
    """
    client = make_client(droa, tmp_path)
    source = local_store(droa, objects)
    plan = plan_import(source, ModelSource(MODEL), site=client.site, choice=kw.pop("choice", "last"), **kw)
    target = upload_store(droa, client)
    if operations is not None:
        target.client.meta.events.register("before-call.s3.*", lambda model, **_kw: operations.append(model.name))
    model_id = run_import(plan, client, source=source, target=target)
    return plan, client, model_id


def wait(client: DroaClient, model_id: str, statuses: list[str] | None = None) -> Any:
    seen = statuses if statuses is not None else []
    return wait_for_model(
        lambda: client.get_model(model_id), interval=0.05, timeout=10, on_status=lambda s, _e: seen.append(s)
    )


def test_an_import_uploads_exactly_the_droa_layout_and_becomes_ready(droa: DroaDouble, tmp_path: Path) -> None:
    objects = trained_model(MODEL, checkpoints=(1, 2, 3), best=2)
    operations: list[str] = []
    plan, client, model_id = start_import(droa, tmp_path, objects, operations, name="my-model", description="from drfc")
    # DRoA's roles may only put objects into the upload bucket: no listing, no reading back.
    assert operations and set(operations) <= {
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    }
    statuses: list[str] = []
    model = wait(client, model_id, statuses)
    assert statuses[0] == "IMPORTING" and statuses[-1] == "READY"
    assert model["name"] == "my-model" and model["description"] == "from drfc"

    uploaded = droa.uploaded(plan.upload_prefix)
    name = ckpt_name(3)
    training = [p for p in uploaded if p.startswith("metrics/")]
    assert len(training) == 1 and training[0].startswith("metrics/training/training-") and training[0].endswith(".json")
    assert uploaded[training[0]] == objects[f"{MODEL}/metrics/TrainingMetrics.json"]
    assert set(uploaded) == {
        "training_params.yaml",
        "model_metadata.json",
        "reward_function.py",
        "ip/hyperparameters.json",
        "model/model_metadata.json",
        "model/deepracer_checkpoints.json",
        "model/.coach_checkpoint",
        f"model/{name}.index",
        f"model/{name}.meta",
        f"model/{name}.data-00000-of-00001",
        "model/model_3.pb",
        training[0],
    }
    assert uploaded[f"model/{name}.data-00000-of-00001"] == objects[f"{MODEL}/model/{name}.data-00000-of-00001"]
    assert uploaded["model/.coach_checkpoint"] == name.encode()
    record = json.loads(uploaded["model/deepracer_checkpoints.json"])
    assert record["last_checkpoint"]["name"] == record["best_checkpoint"]["name"] == name
    params = yaml.safe_load(uploaded["training_params.yaml"])
    assert params["WORLD_NAME"] == "reInvent2019_wide" and params["TRACK_DIRECTION_CLOCKWISE"] is True
    assert params["SAGEMAKER_SHARED_S3_BUCKET"] == UPLOAD_BUCKET
    assert params["SAGEMAKER_SHARED_S3_PREFIX"] == plan.upload_prefix
    assert plan.upload_prefix.startswith("uploads/models/") and len(plan.upload_prefix.split("/")[-1]) == 36
    # what DRoA made of it
    assert model["trainingConfig"]["trackConfig"] == {"trackId": "reInvent2019_wide", "trackDirection": "CLOCKWISE"}
    assert model["carCustomization"] == {"carShell": "DEEPRACER", "carColor": "RED"}
    assert model["trainingMetricsUrl"].endswith(training[0])  # metrics found where DRoA looks
    assert model["fileSizeInBytes"] == sum(len(v) for v in uploaded.values())


def test_a_reverse_run_on_a_counter_clockwise_default_track_imports_clockwise_and_big_files_stream(
    droa: DroaDouble, tmp_path: Path
) -> None:
    objects = trained_model(MODEL, world="2022_april_open", data_size=9 * 1024 * 1024)  # multipart upload
    key = f"{MODEL}/training_params.yaml"
    objects[key] = objects[key].replace(b"'REVERSE_DIR': 'False'", b"'REVERSE_DIR': 'True'")
    operations: list[str] = []
    plan, client, model_id = start_import(droa, tmp_path, objects, operations, name="reverse")
    assert "UploadPart" in operations and not {"ListObjectsV2", "GetObject", "HeadObject"} & set(operations)
    data = f"model/{ckpt_name(3)}.data-00000-of-00001"
    assert droa.uploaded(plan.upload_prefix)[data] == objects[f"{MODEL}/{data}"]
    assert wait(client, model_id)["trainingConfig"]["trackConfig"] == {
        "trackId": "2022_april_open",
        "trackDirection": "CLOCKWISE",
    }


def test_an_import_that_fails_validation_ends_in_error_with_droas_reason(droa: DroaDouble, tmp_path: Path) -> None:
    objects = trained_model(MODEL)
    objects[f"{MODEL}/reward_function.py"] = b"def reward_function(params)\n    return 1.0\n"
    _plan, client, model_id = start_import(droa, tmp_path, objects, name="broken-reward")
    with pytest.raises(DroaImportError, match="ended in ERROR: Reward Function Validation failed: SyntaxError") as e:
        wait(client, model_id)
    assert e.value.exit_code == 40 and "drfc models get" in (e.value.hint or "")


def test_the_double_refuses_an_upload_missing_a_model_file(droa: DroaDouble, tmp_path: Path) -> None:
    """Proves the double checks the layout: the same files minus .coach_checkpoint end in ERROR."""
    client = make_client(droa, tmp_path)
    source = local_store(droa, trained_model(MODEL))
    plan = plan_import(source, ModelSource(MODEL), site=client.site, choice="last", name="partial")
    store = upload_store(droa, client)
    for item in plan.bundle.items:
        if item.target != "model/.coach_checkpoint":
            data = item.content if item.content is not None else source.get_bytes(item.source_key or "")
            store.put_bytes(f"{plan.upload_prefix}/{item.target}", data)
    body = {"s3Bucket": UPLOAD_BUCKET, "s3Path": plan.upload_prefix, "modelName": "partial"}
    model_id = client.import_model(body)
    with pytest.raises(DroaImportError, match=r"Model validation failed: model/\.coach_checkpoint not found"):
        wait(client, model_id)


def test_import_http_errors_carry_droas_message(droa: DroaDouble, tmp_path: Path) -> None:
    client = make_client(droa, tmp_path)
    with pytest.raises(DroaRequestError, match="Model name must contain only alphanumeric") as bad_name:
        client.import_model({"s3Bucket": UPLOAD_BUCKET, "s3Path": "uploads/models/x", "modelName": "bad_name"})
    assert bad_name.value.status == 400
    with pytest.raises(DroaRequestError, match=r"failed \(HTTP 500\): training_params.yaml not found") as empty:
        client.import_model({"s3Bucket": UPLOAD_BUCKET, "s3Path": "uploads/models/empty", "modelName": "empty"})
    assert empty.value.status == 500
