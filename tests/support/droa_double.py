"""A test double of a DeepRacer on AWS (DRoA) deployment, for tests only.

No real DRoA deployment can run here, so the tests talk to this stand-in over
real HTTP on loopback. It plays the parts of a deployment that a client meets:

* the web site's ``/env.js`` (``window.EnvironmentConfig = {...};``), as JSON or
  as a JavaScript object literal;
* Amazon Cognito, through moto in server mode (cognito-idp and
  cognito-identity) in this process. moto's identity pool hands every caller
  the same fixed keys, so the double replaces that one operation: it checks
  that the ``Logins`` ID token was issued by the user pool and has not expired,
  that the user is in a DRoA group, and then issues fresh random credentials
  with an expiry, and remembers them;
* the API behind its IAM authorizer: every request must carry a SigV4
  signature for ``execute-api`` in the deployment's region, made with
  credentials the identity pool issued. The double recomputes the signature
  itself (its own implementation of the algorithm, not botocore's), so an
  unsigned, mis-signed, tampered or expired request is refused with API
  Gateway's status, error type and message;
* the five model endpoints (list, get, delete, get asset URL, import), scoped
  to the signed-in user. Import reads the uploaded files from the moto S3
  upload bucket: the synchronous checks answer 400/500 as DRoA's handler does;
  then, once the model has been read ``import_polls`` times while IMPORTING
  (deterministic, unlike a timer), the workflow validates the reward function
  and the checkpoint files and sets the model READY or ERROR with a reason. Only
  ``metrics/training/training-*.json`` is taken as training metrics;
* optionally (``waf_requires_browser``) a firewall that answers a bare 403 to
  requests without browser headers.

What the double does not know (which tracks exist, which car colours) comes
from a small table of its own, deliberately not from ``drfc.core.droa``, so the
client's pre-flight checks and the double's refusals are independent.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import string
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import yaml
from moto.cognitoidentity.responses import CognitoIdentityResponse
from moto.cognitoidp.models import cognitoidp_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.server import ThreadedMotoServer

from tests.support.s3server import free_port

REGION = "us-east-1"
STAGE = "prod"
UPLOAD_BUCKET = "droa-double-upload"
ASSETS_BUCKET = "droa-double-assets"
GROUPS = ("dr-admins", "dr-race-facilitators", "dr-racers")
NAME_RULE = (
    "Model name must contain only alphanumeric characters and hyphens; "
    "and must be less than or equal to 64 characters in length"
)
DESCRIPTION_RULE = (
    "Model description must contain only alphanumeric characters, spaces, and hyphen; "
    "and must be less than or equal to 255 characters in length"
)
SCOPE_DATE = "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP."
TOKEN_INVALID = "The security token included in the request is invalid."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
#: The double's own, small view of DRoA's tracks: id -> (default direction, enabled directions).
TRACKS = {
    "reInvent2019_wide": ("CLOCKWISE", ("CLOCKWISE", "COUNTER_CLOCKWISE")),
    "2022_april_open": ("COUNTER_CLOCKWISE", ("CLOCKWISE", "COUNTER_CLOCKWISE")),
    "reinvent_base": ("COUNTER_CLOCKWISE", ("COUNTER_CLOCKWISE",)),
    "Albert": ("CLOCKWISE", ("CLOCKWISE",)),
}
DEEPRACER_COLOURS = {"BLACK", "BLUE", "GREY", "ORANGE", "PURPLE", "RED", "WHITE"}
ALL_COLOURS = DEEPRACER_COLOURS | {"BROWN", "GOLDEN", "GOLDENPINK", "GREEN", "PINK", "SKY_BLUE", "TEAL", "YELLOW"}


@dataclass
class Issued:
    """Credentials the identity pool handed out, and to whom."""

    access_key_id: str
    secret_key: str
    session_token: str
    expiration: float
    identity_id: str
    username: str


@dataclass
class Recorded:
    """One API request as the double saw it."""

    method: str
    path: str
    status: int
    access_key_id: str | None
    error_type: str = ""


@dataclass
class Answer:
    status: int
    body: Any = None
    error_type: str = ""
    raw: bytes | None = None
    content_type: str = "application/json"


def _error(status: int, error_type: str, message: str) -> Answer:
    return Answer(status, {"message": message}, error_type)


# --------------------------------------------------------------------------- SigV4, implemented independently

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_signature(
    secret: str,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed: list[str],
    body: bytes,
    amz_date: str,
    region: str,
    service: str,
) -> str:
    """The signature AWS would compute for this request (canonical request, string to sign, derived key)."""
    canonical_uri = urllib.parse.quote(urllib.parse.unquote(path), safe="/-_.~")
    pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in pairs
    )
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed)
    canonical_request = "\n".join(
        [method, canonical_uri, canonical_query, canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(f"AWS4{secret}".encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- the double


class DroaDouble:
    """One fake deployment: moto for Cognito and S3, and an HTTP server for the site and the API."""

    _shared: ClassVar[DroaDouble | None] = None

    def __init__(self) -> None:
        self.moto_port = free_port()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._original_credentials: Any = None
        self.issued: dict[str, Issued] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.passwords: dict[str, str] = {}
        # knobs tests turn
        self.credential_seconds = 3600.0
        self.import_polls = 1
        self.page_size = 2
        self.env_style = "json"
        self.waf_requires_browser = False
        self.user_pool_id = ""
        self.client_id = ""
        self.identity_pool_id = ""

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def shared(cls) -> DroaDouble:
        """One running double per test process (moto's backends are process-wide), stopped at exit."""
        if cls._shared is None:
            double = cls().start()
            atexit.register(double.stop)
            cls._shared = double
        return cls._shared

    def start(self) -> DroaDouble:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
        self._moto.start()
        self._original_credentials = CognitoIdentityResponse.get_credentials_for_identity
        double = self

        def get_credentials_for_identity(response: CognitoIdentityResponse) -> str:
            return double._issue(response._get_param("IdentityId"), response._get_param("Logins") or {})

        CognitoIdentityResponse.get_credentials_for_identity = get_credentials_for_identity  # type: ignore[method-assign]
        handler = type("Handler", (_Handler,), {"double": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="droa-double", daemon=True)
        self._thread.start()
        self.reset()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._original_credentials is not None:
            CognitoIdentityResponse.get_credentials_for_identity = self._original_credentials  # type: ignore[method-assign]
            self._original_credentials = None
        with contextlib.suppress(Exception):
            self._moto.stop()

    def reset(self) -> None:
        """A fresh deployment: new user pool, identity pool and buckets; no users, models or records."""
        with self._lock:
            self.issued.clear()
            self.models.clear()
            self.requests.clear()
            self.passwords.clear()
        self.credential_seconds, self.import_polls, self.page_size = 3600.0, 1, 2
        self.env_style, self.waf_requires_browser = "json", False
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.moto_url}/moto-api/reset", method="POST"), timeout=10)
        idp = self.aws("cognito-idp")
        pool = idp.create_user_pool(PoolName="droa-double-users")["UserPool"]
        self.user_pool_id = pool["Id"]
        client = idp.create_user_pool_client(
            UserPoolId=self.user_pool_id,
            ClientName="WebClient",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )
        self.client_id = client["UserPoolClient"]["ClientId"]
        for group in GROUPS:
            idp.create_group(UserPoolId=self.user_pool_id, GroupName=group)
        identity = self.aws("cognito-identity").create_identity_pool(
            IdentityPoolName="droa_double_identities",
            AllowUnauthenticatedIdentities=False,
            CognitoIdentityProviders=[{"ProviderName": self.login_provider, "ClientId": self.client_id}],
        )
        self.identity_pool_id = identity["IdentityPoolId"]
        s3 = self.aws("s3")
        for bucket in (UPLOAD_BUCKET, ASSETS_BUCKET):
            s3.create_bucket(Bucket=bucket)

    # ------------------------------------------------------------------ addresses

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def site_url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.site_url}/{STAGE}/"

    @property
    def login_provider(self) -> str:
        return f"cognito-idp.{REGION}.amazonaws.com/{self.user_pool_id}"

    def client_env(self) -> dict[str, str]:
        """Standard AWS endpoint settings that send Cognito and S3 calls to the double's moto."""
        return {
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": self.moto_url,
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY": self.moto_url,
            "AWS_ENDPOINT_URL_S3": self.moto_url,
            "AWS_DEFAULT_REGION": REGION,
        }

    def env_config(self) -> dict[str, str]:
        return {
            "apiEndpointUrl": self.api_url,
            "region": REGION,
            "userPoolId": self.user_pool_id,
            "userPoolClientId": self.client_id,
            "identityPoolId": self.identity_pool_id,
            "uploadBucketName": UPLOAD_BUCKET,
            "iotEndpoint": "example-ats.iot.us-east-1.amazonaws.com",
            "solutionVersion": "v1.2.5",
            "namespace": "double",
        }

    def aws(self, service: str) -> Any:
        """An administrative boto3 client for the double's moto (tests inspect buckets with it)."""
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.moto_url,
            region_name=REGION,
            aws_access_key_id="double-admin",
            aws_secret_access_key="double-admin-secret",
        )

    # ------------------------------------------------------------------ users, credentials, models

    def add_user(self, username: str, password: str, *, group: str | None = "dr-racers") -> None:
        idp = self.aws("cognito-idp")
        idp.admin_create_user(
            UserPoolId=self.user_pool_id, Username=username, TemporaryPassword="Temp-0rary!", MessageAction="SUPPRESS"
        )
        idp.admin_set_user_password(UserPoolId=self.user_pool_id, Username=username, Password=password, Permanent=True)
        if group:
            idp.admin_add_user_to_group(UserPoolId=self.user_pool_id, Username=username, GroupName=group)
        self.passwords[username] = password

    def expire_credentials(self) -> None:
        """Every credential issued so far now counts as expired (as an hour passing would)."""
        with self._lock:
            for issued in self.issued.values():
                issued.expiration = time.time() - 1

    def _issue(self, identity_id: str, logins: Mapping[str, str]) -> str:
        token = logins.get(self.login_provider)
        claims = _jwt_claims(token) if token else {}
        pool = cognitoidp_backends[DEFAULT_ACCOUNT_ID][REGION].user_pools.get(self.user_pool_id)
        if not token or pool is None or token not in pool.id_tokens:
            raise JsonRESTError(
                "NotAuthorizedException", "Invalid login token. Not a valid OpenId Connect identity token."
            )
        if claims.get("exp", 0) < time.time():
            raise JsonRESTError("NotAuthorizedException", "Invalid login token. Token expired.")
        if not set(claims.get("cognito:groups") or []) & set(GROUPS):
            # Rules-based role mapping with ambiguousRoleResolution=Deny: no group, no role.
            raise JsonRESTError("NotAuthorizedException", "Unable to determine a role for this identity.")
        issued = Issued(
            access_key_id="ASIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
            secret_key=secrets.token_urlsafe(30),
            session_token=secrets.token_urlsafe(60),
            expiration=time.time() + self.credential_seconds,
            identity_id=identity_id,
            username=str(claims.get("cognito:username") or ""),
        )
        with self._lock:
            self.issued[issued.access_key_id] = issued
        return json.dumps(
            {
                "IdentityId": identity_id,
                "Credentials": {
                    "AccessKeyId": issued.access_key_id,
                    "SecretKey": issued.secret_key,
                    "SessionToken": issued.session_token,
                    "Expiration": issued.expiration,
                },
            }
        )

    def add_model(self, owner: str, name: str, *, status: str = "READY", **fields: Any) -> str:
        """A model that exists before the test (as if trained or imported earlier)."""
        model_id = _model_id()
        with self._lock:
            created = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            self.models[model_id] = {
                "modelId": model_id,
                "name": name,
                "status": status,
                "trainingStatus": "COMPLETED",
                "createdAt": fields.pop("createdAt", created),
                "fileSizeInBytes": fields.pop("fileSizeInBytes", 1234),
                "carCustomization": {"carShell": "DEEPRACER", "carColor": "BLACK"},
                "trainingConfig": {
                    "trackConfig": {"trackId": "reInvent2019_wide", "trackDirection": "CLOCKWISE"},
                    "maxTimeInMinutes": 60,
                    "raceType": "TIME_TRIAL",
                },
                "metadata": {"agentAlgorithm": "PPO", "sensors": {"camera": "FRONT_FACING_CAMERA"}},
                "trainingMetricsUrl": "",
                "_owner": owner,
                "_polls": 10**9,  # a model added by a test keeps its status
                **fields,
            }
        return model_id

    def public(self, model: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in model.items() if not k.startswith("_")}

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        split = urllib.parse.urlsplit(raw_path)
        path, query = split.path, split.query
        if method == "GET" and path == "/env.js":
            return self._env_js()
        if not path.startswith(f"/{STAGE}/"):
            return Answer(404, raw=b"not found", content_type="text/plain")
        if self.waf_requires_browser and "sec-fetch-mode" not in headers:
            return Answer(403, raw=b"<html><body><h1>403 Forbidden</h1></body></html>", content_type="text/html")
        issued, problem = self.verify(method, path, query, headers, body)
        if problem is not None:
            self._record(method, path, problem, headers)
            return problem
        assert issued is not None
        answer = self._route(method, path[len(STAGE) + 1 :], urllib.parse.parse_qs(query), body, issued)
        self._record(method, path, answer, headers)
        return answer

    def _record(self, method: str, path: str, answer: Answer, headers: Mapping[str, str]) -> None:
        match = _AUTH.match(headers.get("authorization", ""))
        with self._lock:
            self.requests.append(
                Recorded(method, path, answer.status, match.group("key") if match else None, answer.error_type)
            )

    def verify(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Issued | None, Answer | None]:
        """API Gateway's IAM authorizer: who signed this request, or the 403 it gets."""
        auth = headers.get("authorization")
        if not auth:
            return None, _error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        match = _AUTH.match(auth)
        amz_date = headers.get("x-amz-date", "")
        if not match or not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
            return None, _error(403, "IncompleteSignatureException", f"Authorization header is malformed: {auth[:40]}")
        if match.group("service") != "execute-api":
            return None, _error(
                403, "InvalidSignatureException", "Credential should be scoped to correct service: 'execute-api'. "
            )
        if match.group("region") != REGION:
            return None, _error(403, "InvalidSignatureException", "Credential should be scoped to a valid region. ")
        if match.group("date") != amz_date[:8]:
            return None, _error(403, "InvalidSignatureException", SCOPE_DATE)
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        if abs(time.time() - signed_at) > 300:
            return None, _error(403, "InvalidSignatureException", f"Signature expired: {amz_date} is out of range")
        with self._lock:
            issued = self.issued.get(match.group("key"))
        if issued is None or headers.get("x-amz-security-token") != issued.session_token:
            return None, _error(403, "UnrecognizedClientException", TOKEN_INVALID)
        if issued.expiration <= time.time():
            return None, _error(403, "ExpiredTokenException", "The security token included in the request is expired")
        signed = match.group("signed").split(";")
        if (
            signed != sorted(signed)
            or not {"host", "x-amz-date"} <= set(signed)
            or any(n not in headers for n in signed)
        ):
            return None, _error(403, "IncompleteSignatureException", "Signed headers are incomplete or out of order.")
        expected = sigv4_signature(
            issued.secret_key, method, path, query, headers, signed, body, amz_date, REGION, "execute-api"
        )
        if not hmac.compare_digest(expected, match.group("signature")):
            return None, _error(403, "InvalidSignatureException", SIGNATURE_MISMATCH)
        return issued, None

    def _env_js(self) -> Answer:
        config = self.env_config()
        if self.env_style == "js":  # a JavaScript object literal: bare keys, single quotes, a trailing comma
            text = "{\n" + "".join(f"  {k}: '{v}',\n" for k, v in config.items()) + "}"
        else:
            text = json.dumps(config, indent=2)
        return Answer(200, raw=f"window.EnvironmentConfig = {text};\n".encode(), content_type="application/javascript")

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes, who: Issued) -> Answer:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if method == "GET" and parts == ["models"]:
            return self._list(who, (query.get("token") or [""])[0])
        if method == "POST" and parts == ["importmodel"]:
            return self._import(who, body)
        if len(parts) >= 2 and parts[0] == "models":
            with self._lock:
                model = self.models.get(parts[1])
            if model is None or model["_owner"] != who.username:
                return _error(404, "NotFoundError", "Model not found.")
            if method == "GET" and len(parts) == 2:
                if not self._advance(model):
                    return _error(404, "NotFoundError", "Model not found.")
                return Answer(200, {"model": self.public(model)})
            if method == "DELETE" and len(parts) == 2:
                return self._delete(model)
            if method == "GET" and parts[2:] == ["getasset"]:
                return self._asset(model, query)
        return _error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")

    def _list(self, who: Issued, token: str) -> Answer:
        with self._lock:
            mine = [self.public(m) for m in self.models.values() if m["_owner"] == who.username]
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        page = mine[start : start + self.page_size]
        answer: dict[str, Any] = {"models": page}
        if start + self.page_size < len(mine):
            answer["token"] = base64.urlsafe_b64encode(str(start + self.page_size).encode()).decode()
        return Answer(200, answer)

    def _delete(self, model: dict[str, Any]) -> Answer:
        if model["status"] not in ("READY", "ERROR"):
            return _error(400, "BadRequestError", f"Model cannot be deleted while in {model['status']} status.")
        model["status"], model["_polls"] = "DELETING", self.import_polls
        return Answer(200, {})

    def _asset(self, model: dict[str, Any], query: dict[str, list[str]]) -> Answer:
        kind = (query.get("assetType") or [""])[0]
        if kind == "PHYSICAL_CAR_MODEL":
            return _error(404, "NotFoundError", "Unable to find physical model artifact.")
        if kind == "EVALUATION_LOGS" and not query.get("evaluationId"):
            return _error(400, "BadRequestError", "Evaluation ID is required for evaluation logs.")
        if kind not in ("TRAINING_LOGS", "EVALUATION_LOGS", "VIRTUAL_MODEL", "VIDEOS"):
            return _error(400, "BadRequestError", f"Invalid asset type {kind!r}.")
        if kind == "VIRTUAL_MODEL" and not model.get("_packaged"):
            model["_packaged"] = True  # packaged on the first request; the next one gets the URL
            return Answer(200, {"status": "QUEUED"})
        key = f"{model['modelId']}/{kind.lower()}.tar.gz"
        content = f"{kind} of {model['name']}\n".encode() * 100
        s3 = self.aws("s3")
        s3.put_object(Bucket=ASSETS_BUCKET, Key=key, Body=content)
        url = s3.generate_presigned_url("get_object", Params={"Bucket": ASSETS_BUCKET, "Key": key}, ExpiresIn=300)
        return Answer(200, {"url": url})

    # ------------------------------------------------------------------ import

    def _import(self, who: Issued, body: bytes) -> Answer:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "BadRequestError", "Invalid request body")
        name, description = request.get("modelName"), request.get("modelDescription")
        bucket, prefix = request.get("s3Bucket"), request.get("s3Path")
        if not name or not bucket or not prefix:
            return _error(400, "BadRequestError", "Missing required fields")
        if not re.fullmatch(r"[a-zA-Z0-9-]+", name) or len(name) > 64:
            return _error(400, "BadRequestError", NAME_RULE)
        if description and (not re.fullmatch(r"[a-zA-Z0-9- ]+", description) or len(description) > 255):
            return _error(400, "BadRequestError", DESCRIPTION_RULE)
        if bucket != UPLOAD_BUCKET:
            return _error(500, "InternalFailureError", "Access Denied")
        files = {}
        for path in ("training_params.yaml", "model_metadata.json", "reward_function.py", "ip/hyperparameters.json"):
            data = self._read(f"{prefix}/{path}")
            if data is None:
                return _error(500, "InternalFailureError", f"{path} not found at s3://{bucket}/{prefix}/{path}")
            files[path] = data
        params = yaml.safe_load(files["training_params.yaml"]) or {}
        metadata = json.loads(files["model_metadata.json"])
        hyper = json.loads(files["ip/hyperparameters.json"])
        refused = self._refusal(params, metadata, hyper)
        if refused:
            return _error(400, "BadRequestError", refused)
        track = str(params.get("WORLD_NAME"))
        default, _both = TRACKS[track]
        if len(_both) == 1:
            direction = default
        else:
            direction = "CLOCKWISE" if params.get("TRACK_DIRECTION_CLOCKWISE") is True else "COUNTER_CLOCKWISE"
        keys = self._keys(prefix)
        metrics = next((k for k in sorted(keys) if _is_training_metrics(k, prefix)), None)
        model_id = self.add_model(
            who.username,
            name,
            status="IMPORTING",
            description=description,
            fileSizeInBytes=0,
            carCustomization=self._car(params),
            trainingConfig={
                "trackConfig": {"trackId": track, "trackDirection": direction},
                "maxTimeInMinutes": 0,
                "raceType": "OBJECT_AVOIDANCE" if params.get("RACE_TYPE") == "OBJECT_AVOIDANCE" else "TIME_TRIAL",
            },
            metadata={
                "agentAlgorithm": "SAC" if metadata.get("training_algorithm") == "sac" else "PPO",
                "rewardFunction": files["reward_function.py"].decode(),
                "hyperparameters": hyper,
                "actionSpace": _action_space(metadata.get("action_space")),
                "sensors": {"camera": "FRONT_FACING_CAMERA"},
            },
            trainingMetricsUrl=f"{self.moto_url}/{bucket}/{metrics}" if metrics else "",
            _prefix=prefix,
            _polls=self.import_polls,
        )
        return Answer(200, {"modelId": model_id})

    def _refusal(self, params: Mapping[str, Any], metadata: Mapping[str, Any], hyper: Mapping[str, Any]) -> str | None:
        """DRoA's synchronous 400s, in its words."""
        shell = params.get("BODY_SHELL_TYPE")
        colour = str(params.get("CAR_COLOR") or "").upper()
        if shell == "deepracer" and colour in ALL_COLOURS and colour not in DEEPRACER_COLOURS:
            return f"Invalid car customization. Car shell DEEPRACER is not available in color {colour}."
        track = params.get("WORLD_NAME")
        direction = "CLOCKWISE" if params.get("TRACK_DIRECTION_CLOCKWISE") is True else "COUNTER_CLOCKWISE"
        if track not in TRACKS or (len(TRACKS[track][1]) > 1 and direction not in TRACKS[track][1]):
            return f"Invalid track configuration. Track {track} is not available in direction {direction}."
        sac = metadata.get("training_algorithm") == "sac"
        if sac and metadata.get("action_space_type") == "discrete":
            return "Agent algorithm SAC does not work with discrete action space."
        if sac and hyper.get("num_episodes_between_training") != 1:
            return "Invalid hyperparameter number of episodes between training for SAC agent algorithm."
        return None

    def _car(self, params: Mapping[str, Any]) -> dict[str, str]:
        colour = str(params.get("CAR_COLOR") or "").upper()
        if params.get("BODY_SHELL_TYPE") == "deepracer" and colour in DEEPRACER_COLOURS:
            return {"carShell": "DEEPRACER", "carColor": colour}
        return {"carShell": "DEEPRACER", "carColor": "WHITE"}

    def _advance(self, model: dict[str, Any]) -> bool:
        """DRoA's asynchronous work, done when the model has been read ``import_polls`` times; False once deleted."""
        if model["status"] not in ("IMPORTING", "DELETING"):
            return True
        if model["_polls"] > 0:
            model["_polls"] -= 1
            return True
        if model["status"] == "DELETING":
            with self._lock:
                self.models.pop(model["modelId"], None)
            return False
        self._finish_import(model)
        return True

    def _finish_import(self, model: dict[str, Any]) -> None:
        reason, size = self._validate_upload(model["_prefix"], model["metadata"]["rewardFunction"])
        with self._lock:
            model["fileSizeInBytes"] = size
            if reason:
                model["status"], model["importErrorMessage"] = "ERROR", reason
            else:
                model["status"] = "READY"

    def _validate_upload(self, prefix: str, reward: str) -> tuple[str | None, int]:
        """The asynchronous workflow: reward function, then the model validator, on the uploaded keys."""
        sizes = {o["Key"][len(prefix) + 1 :]: int(o["Size"]) for o in self._objects(prefix)}
        total = sum(sizes.values())
        try:
            compile(reward, "reward_function.py", "exec")
        except SyntaxError as exc:
            return f"Reward Function Validation failed: SyntaxError: {exc.msg} (line {exc.lineno})", total
        for path in ("model/model_metadata.json", "model/deepracer_checkpoints.json", "model/.coach_checkpoint"):
            if path not in sizes:
                return f"Model validation failed: {path} not found", total
        checkpoints = json.loads(self._read(f"{prefix}/model/deepracer_checkpoints.json") or b"{}")
        for which in ("last_checkpoint", "best_checkpoint"):
            stem = (checkpoints.get(which) or {}).get("name")
            if not stem:
                continue
            parts = [f"model/{stem}.index", f"model/{stem}.meta"]
            if any(p not in sizes for p in parts) or not any(p.startswith(f"model/{stem}.data-") for p in sizes):
                return f"Model validation failed: checkpoint files for {stem} not found", total
        return None, total

    def _read(self, key: str) -> bytes | None:
        try:
            return bytes(self.aws("s3").get_object(Bucket=UPLOAD_BUCKET, Key=key)["Body"].read())
        except Exception:
            return None

    def _objects(self, prefix: str) -> list[dict[str, Any]]:
        """The upload's objects as DRoA's workflow sees them: one ListObjectsV2 page, no paging."""
        answer = self.aws("s3").list_objects_v2(Bucket=UPLOAD_BUCKET, Prefix=f"{prefix}/", MaxKeys=1000)
        return list(answer.get("Contents", []))

    def _keys(self, prefix: str) -> list[str]:
        return [o["Key"] for o in self._objects(prefix)]

    # ------------------------------------------------------------------ inspection helpers for tests

    def uploaded(self, prefix: str) -> dict[str, bytes]:
        """Every object under ``prefix`` in the upload bucket, by path relative to it."""
        s3 = self.aws("s3")
        return {
            key[len(prefix) + 1 :]: s3.get_object(Bucket=UPLOAD_BUCKET, Key=key)["Body"].read()
            for key in self._keys(prefix)
        }


def _is_training_metrics(key: str, prefix: str) -> bool:
    """What DRoA imports as training metrics: the first metrics/training/*training-*.json."""
    return (
        key.startswith(f"{prefix}/metrics/training/")
        and "training-" in key.rsplit("/", 1)[-1]
        and key.endswith(".json")
    )


def _action_space(space: Any) -> dict[str, Any]:
    """model_metadata.json's action space in DRoA's shape (a union; "continous" is DRoA's spelling)."""
    if isinstance(space, list):
        return {"discrete": [{"speed": a.get("speed"), "steeringAngle": a.get("steering_angle")} for a in space]}
    speed, steering = (space or {}).get("speed") or {}, (space or {}).get("steering_angle") or {}
    return {
        "continous": {
            "lowSpeed": speed.get("low"),
            "highSpeed": speed.get("high"),
            "lowSteeringAngle": steering.get("low"),
            "highSteeringAngle": steering.get("high"),
        }
    }


def _model_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(15))


def _jwt_claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError):
        return {}


class _Handler(BaseHTTPRequestHandler):
    double: ClassVar[DroaDouble]
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.double.handle(self.command, self.path, headers, body)
        data = (
            answer.raw
            if answer.raw is not None
            else json.dumps(answer.body if answer.body is not None else {}).encode()
        )
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", secrets.token_hex(8))
        if answer.error_type:
            self.send_header("x-amzn-ErrorType", f"{answer.error_type}:http://internal.amazon.com/coral/")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
