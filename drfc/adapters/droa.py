"""The DeepRacer on AWS (DRoA) client: discovery, Cognito sign-in, SigV4-signed API calls, its S3 session.

A DRoA deployment describes itself in ``<site>/env.js``. Its REST API sits
behind an IAM authorizer: every call must be SigV4-signed for the service
``execute-api`` with temporary credentials from the deployment's Cognito
identity pool, which are obtained by signing in to its user pool
(``USER_PASSWORD_AUTH``, the app client has no secret) and trading the ID token.

Those credentials (about an hour) and the user pool's refresh token (a day)
are cached in one file per deployment and user, mode 0600 in a 0700 folder
under drfc's cache folder, so the password is asked for about once a day, not
on every command. Cached credentials are renewed a few minutes before they
expire; when the API still calls them expired, they are renewed once and the
call repeated. Nothing here prints or logs a secret: the debug log shows
methods, URLs, status codes and the *names* of the signed headers.

DRoA's web application firewall answers 403 to requests that do not look like
a browser's (DRfC #205), so a small browser-like header set is signed along
with each request; ``DRFC_DROA_BROWSER_HEADERS=0`` turns it off should the WAF
rules change.

HTTP uses the standard library (urllib); Cognito and S3 use boto3 and so honour
the standard endpoint settings (``AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER``,
``AWS_ENDPOINT_URL_COGNITO_IDENTITY``, ``AWS_ENDPOINT_URL_S3``). Every failure
becomes a ``DroaError`` subclass (exit code 40) carrying DRoA's own message.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore import exceptions as bce
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from drfc import __version__
from drfc.core.droa import (
    DroaSite,
    Login,
    TemporaryCredentials,
    cache_file_name,
    env_js_url,
    parse_env_js,
    utcnow,
)
from drfc.errors import (
    DrfcError,
    DroaAuthError,
    DroaCredentialsExpiredError,
    DroaError,
    DroaRequestError,
    DroaUnreachableError,
)

#: Seconds to wait for env.js and for each API call.
HTTP_TIMEOUT = 30.0
#: Chunk size for asset downloads.
CHUNK = 64 * 1024
BROWSER_HEADERS_ENV = "DRFC_DROA_BROWSER_HEADERS"
#: What a current desktop browser sends; signed with each API request so DRoA's WAF lets it through.
BROWSER_HEADERS = {
    "accept": "application/json, text/plain, */*",
    "accept-language": "en-US,en;q=0.9",
    "sec-ch-ua": '"Chromium";v="147", "Not A(Brand";v="24"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Linux"',
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "cross-site",
    "user-agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36"
    ),
}
#: Cognito errors that mean "wrong user name or password" (pools hide which one).
_BAD_LOGIN = frozenset({"NotAuthorizedException", "UserNotFoundException"})
_UNREACHABLE: tuple[type[Exception], ...] = (
    bce.EndpointConnectionError,
    bce.ConnectTimeoutError,
    bce.ReadTimeoutError,
    bce.ConnectionClosedError,
)

Debug = Callable[[str], None]


def default_cache_dir() -> Path:
    """Where logins are cached: ``$XDG_CACHE_HOME/drfc/droa`` (``~/.cache/drfc/droa``)."""
    from drfc.core.sync import default_cache_dir as drfc_cache

    return drfc_cache() / "droa"


def browser_headers_enabled() -> bool:
    return os.environ.get(BROWSER_HEADERS_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


# --------------------------------------------------------------------------- plain HTTP


def _http(
    request: urllib.request.Request, timeout: float, what: str, hint: str | None = None
) -> tuple[int, Message, bytes]:
    """(status, headers, body) for any HTTP answer; only a missing answer raises."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            return int(exc.code), exc.headers, exc.read()
    except OSError as exc:  # URLError, timeouts, refused or reset connections
        reason = getattr(exc, "reason", exc)
        raise DroaUnreachableError(f"cannot reach {what}: {reason}", hint=hint) from None


def fetch_site(url: str, *, timeout: float = HTTP_TIMEOUT) -> DroaSite:
    """The deployment behind ``url`` (DR_DROA_URL), read from its ``env.js``."""
    url = url.strip()
    if not url.startswith(("https://", "http://")):
        raise DroaError(f"DR_DROA_URL {url!r} is not an http(s) URL", hint="e.g. https://d1234abcd.cloudfront.net")
    where = env_js_url(url)
    hint = "check DR_DROA_URL (the address of your DeepRacer on AWS web site) and your network"
    request = urllib.request.Request(where, headers={"User-Agent": f"drfc/{__version__}"})
    status, _headers, body = _http(request, timeout, f"DeepRacer on AWS at {url}", hint)
    if status != 200:
        raise DroaError(f"{where} answered HTTP {status}; is DR_DROA_URL the DeepRacer on AWS web site?", hint=hint)
    return parse_env_js(body.decode("utf-8", errors="replace"), url)


def download(url: str, path: Path) -> int:
    """Save a presigned asset URL to ``path`` (a temporary name, then renamed); returns the byte count."""
    if not url.startswith(("https://", "http://")):  # never file:// or other schemes urllib would follow
        raise DroaRequestError(f"DeepRacer on AWS returned a download address that is not http(s): {url[:40]!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.partial-{secrets.token_hex(4)}")
    host = urllib.parse.urlsplit(url).netloc
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response, open(temp, "wb") as fh:
            total = 0
            while chunk := response.read(CHUNK):
                fh.write(chunk)
                total += len(chunk)
        os.replace(temp, path)
        return total
    except urllib.error.HTTPError as exc:
        raise DroaRequestError(f"downloading the asset from {host} failed: HTTP {exc.code}", status=exc.code) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise DroaUnreachableError(f"cannot download the asset from {host}: {getattr(exc, 'reason', exc)}") from None
    finally:
        temp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the client


class DroaClient:
    """Signed calls to one deployment as one user.

    ``password`` is called only when neither cached credentials nor a refresh
    token can be used; the CLI passes DR_DROA_PASSWORD or a prompt.
    """

    def __init__(
        self,
        site: DroaSite,
        username: str,
        *,
        password: Callable[[], str],
        cache_dir: Path | None = None,
        debug: Debug | None = None,
        browser_headers: bool | None = None,
        timeout: float = HTTP_TIMEOUT,
    ) -> None:
        if not username.strip():
            raise DroaAuthError("no DeepRacer on AWS user name", hint="set DR_DROA_USERNAME in system.env")
        self.site = site
        self.username = username.strip()
        self._password = password
        self.cache_dir = cache_dir or default_cache_dir()
        self._debug = debug or (lambda _message: None)
        self._browser = browser_headers_enabled() if browser_headers is None else browser_headers
        self._timeout = timeout
        self._login: Login | None = None
        self._cognito_clients: dict[str, Any] = {}
        #: How the current credentials were obtained: "cache", "refresh-token" or "password".
        self.credentials_source: str | None = None

    # ------------------------------------------------------------------ sign-in and cache

    @property
    def cache_file(self) -> Path:
        return self.cache_dir / cache_file_name(self.site.identity_pool_id, self.username)

    def credentials(self) -> TemporaryCredentials:
        """Usable temporary credentials: from memory, the cache, a refresh token, or the password."""
        now = utcnow()
        if self._login is None or not self._login.credentials.usable(now):
            cached = self._read_cache()
            if cached is not None and cached.credentials.usable(now):
                self._login, self.credentials_source = cached, "cache"
                self._debug(f"using cached DRoA credentials from {self.cache_file}")
            else:
                self._login = self._sign_in(cached)
        return self._login.credentials

    def renew(self) -> TemporaryCredentials:
        """New credentials even if the current ones look valid (the API called them expired)."""
        cached = self._read_cache()
        self._login = self._sign_in(cached)
        return self._login.credentials

    def _read_cache(self) -> Login | None:
        try:
            text = self.cache_file.read_text(encoding="utf-8")
        except OSError:
            return None
        login = Login.from_json(text)
        if login is None or login.site != self.site.url or login.username.lower() != self.username.lower():
            return None
        return login

    def _write_cache(self, login: Login) -> None:
        """Atomically, never readable by others; a cache that cannot be written only costs a later sign-in."""
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.cache_dir, 0o700)
            temp = self.cache_file.with_name(f".{self.cache_file.name}.{secrets.token_hex(4)}")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(login.to_json())
                os.replace(temp, self.cache_file)
            finally:
                temp.unlink(missing_ok=True)
        except OSError as exc:
            self._debug(f"could not cache DRoA credentials in {self.cache_dir}: {exc.strerror}")

    def _sign_in(self, cached: Login | None) -> Login:
        id_token: str | None = None
        refresh = cached.refresh_token if cached else None
        if refresh:
            try:
                id_token = self._refresh(refresh)
                self.credentials_source = "refresh-token"
            except DroaAuthError as exc:
                self._debug(f"refresh token not accepted ({exc.message}); signing in with the password")
                refresh = None
        if id_token is None:
            id_token, refresh = self._password_auth(self._password())
            self.credentials_source = "password"
        identity = cached.credentials.identity_id if cached else ""
        credentials = self._identity_credentials(id_token, identity)
        login = Login(self.site.url, self.username, credentials, refresh)
        self._write_cache(login)
        return login

    def _cognito(self, service: str) -> Any:
        """An unsigned client, built once per service: sign-in and the identity pool need no AWS credentials."""
        if service in self._cognito_clients:
            return self._cognito_clients[service]
        config = Config(
            signature_version=UNSIGNED,
            connect_timeout=5,
            read_timeout=20,
            retries={"mode": "standard", "max_attempts": 2},
            user_agent_extra=f"drfc/{__version__}",
        )
        try:
            session: Any = boto3.session.Session(region_name=self.site.region)
            client = self._cognito_clients[service] = session.client(service, config=config)
        except bce.BotoCoreError as exc:
            raise DroaError(f"cannot set up the {service} client: {exc}") from None
        return client

    def _cognito_call(self, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        client = self._cognito(service)
        try:
            return dict(getattr(client, operation)(**kwargs))
        except _UNREACHABLE as exc:
            raise DroaUnreachableError(
                f"cannot reach Amazon Cognito ({service}, {self.site.region}): {exc}",
                hint="check your network",
            ) from None
        except bce.ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", "") or "")
            raise self._cognito_error(service, code, message) from None
        except bce.BotoCoreError as exc:
            raise DroaError(f"Amazon Cognito ({service}) failed: {exc}") from None

    def _cognito_error(self, service: str, code: str, message: str) -> DrfcError:
        who = f"user {self.username!r} at {self.site.url}"
        if service == "cognito-idp" and code in _BAD_LOGIN:
            if "refresh token" in message.lower():
                return DroaAuthError(f"the saved sign-in for {who} is no longer valid: {message}")
            return DroaAuthError(
                f"DeepRacer on AWS refused the sign-in of {who}: {message or code}",
                hint="check DR_DROA_USERNAME and the password (DR_DROA_PASSWORD or the prompt)",
            )
        if code in {"PasswordResetRequiredException", "UserNotConfirmedException"}:
            return DroaAuthError(
                f"{who} cannot sign in yet: {message or code}",
                hint=f"sign in once in a browser at {self.site.url} to finish setting up the account",
            )
        if service == "cognito-identity" and code in {
            "NotAuthorizedException",
            "InvalidIdentityPoolConfigurationException",
        }:
            return DroaAuthError(
                f"the identity pool gave {who} no AWS credentials: {message or code}",
                hint="the user must belong to a DeepRacer on AWS group (racers, race facilitators or admins)",
            )
        return DroaRequestError(f"Amazon Cognito ({service}) refused the request: {code}: {message}")

    def _password_auth(self, password: str) -> tuple[str, str | None]:
        answer = self._cognito_call(
            "cognito-idp",
            "initiate_auth",
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=self.site.user_pool_client_id,
            AuthParameters={"USERNAME": self.username, "PASSWORD": password},
        )
        challenge = answer.get("ChallengeName")
        if challenge:
            raise DroaAuthError(
                f"signing in {self.username!r} needs {challenge}, which drfc cannot answer",
                hint=f"sign in once in a browser at {self.site.url} (new password or MFA), then run this again",
            )
        result = answer.get("AuthenticationResult") or {}
        if not result.get("IdToken"):
            raise DroaAuthError("Amazon Cognito returned no ID token")
        self._debug(f"signed in to the DRoA user pool as {self.username}")
        return str(result["IdToken"]), result.get("RefreshToken")

    def _refresh(self, refresh_token: str) -> str:
        answer = self._cognito_call(
            "cognito-idp",
            "initiate_auth",
            AuthFlow="REFRESH_TOKEN_AUTH",
            ClientId=self.site.user_pool_client_id,
            AuthParameters={"REFRESH_TOKEN": refresh_token},
        )
        token = (answer.get("AuthenticationResult") or {}).get("IdToken")
        if not token:
            raise DroaAuthError("the refresh token gave no ID token")
        self._debug("renewed the DRoA ID token with the saved refresh token")
        return str(token)

    def _identity_credentials(self, id_token: str, identity_id: str = "") -> TemporaryCredentials:
        logins = {self.site.login_provider: id_token}
        if not identity_id:
            answer = self._cognito_call(
                "cognito-identity", "get_id", IdentityPoolId=self.site.identity_pool_id, Logins=logins
            )
            identity_id = str(answer["IdentityId"])
        answer = self._cognito_call(
            "cognito-identity", "get_credentials_for_identity", IdentityId=identity_id, Logins=logins
        )
        c = answer.get("Credentials") or {}
        try:
            return TemporaryCredentials(
                access_key_id=str(c["AccessKeyId"]),
                secret_key=str(c["SecretKey"]),
                session_token=str(c["SessionToken"]),
                expiration=c["Expiration"],
                identity_id=identity_id,
            )
        except KeyError as exc:
            raise DroaAuthError(f"the identity pool's answer lacks {exc.args[0]}") from None

    # ------------------------------------------------------------------ signed API calls

    def call(self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None) -> Any:
        """One API call; the parsed JSON answer. Expired credentials are renewed once."""
        for attempt in (1, 2):
            credentials = self.credentials() if attempt == 1 else self.renew()
            status, headers, data = self._send(method, path, query, body, credentials)
            if 200 <= status < 300:
                if not data.strip():
                    return {}
                try:
                    return json.loads(data)
                except ValueError:
                    raise DroaRequestError(
                        f"{method} {path}: DeepRacer on AWS answered with something that is not JSON", status=status
                    ) from None
            error_type, message = _error_details(headers, data)
            if status == 403 and _is_expired(error_type, message):
                self._debug(f"{method} {path}: credentials expired ({message}); attempt {attempt}")
                if attempt == 1:
                    continue
                raise DroaCredentialsExpiredError(
                    f"DeepRacer on AWS still calls the credentials expired after renewing them: {message}",
                    hint="check that this machine's clock is right (signed requests must be within minutes of it)",
                )
            raise _http_error(method, path, status, error_type, message, data)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None,
        body: Any,
        credentials: TemporaryCredentials,
    ) -> tuple[int, Message, bytes]:
        url = self.site.api_url(path)
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote, safe="-_.~")
        data = json.dumps(body).encode() if body is not None else None
        headers: dict[str, str] = {"accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        if self._browser:
            headers.update(BROWSER_HEADERS)
            headers["origin"] = self.site.url
            headers["referer"] = self.site.url + "/"
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        signer = Credentials(credentials.access_key_id, credentials.secret_key, credentials.session_token)
        SigV4Auth(signer, "execute-api", self.site.region).add_auth(request)
        signed = {name: str(value) for name, value in request.headers.items()}
        if "user-agent" not in {name.lower() for name in signed}:
            signed["User-Agent"] = f"drfc/{__version__}"
        authorization = str(request.headers.get("Authorization", ""))
        names = authorization.partition("SignedHeaders=")[2].partition(",")[0].replace(";", ", ")
        self._debug(f"{method} {url} (SigV4 execute-api {self.site.region}; signed headers: {names})")
        status, response_headers, payload = _http(
            urllib.request.Request(url, data=data, headers=signed, method=method),
            self._timeout,
            f"the DeepRacer on AWS API ({self.site.api_endpoint_url})",
            "check your network; the site answered, so the API should too",
        )
        request_id = response_headers.get("x-amzn-RequestId") or response_headers.get("x-amz-apigw-id") or "-"
        self._debug(f"{method} {url} -> HTTP {status} (request id {request_id})")
        return status, response_headers, payload

    # ------------------------------------------------------------------ the five model endpoints

    def list_models(self) -> list[dict[str, Any]]:
        """Every model of the signed-in user, all pages."""
        models: list[dict[str, Any]] = []
        token: str | None = None
        for _page in range(1000):
            answer = self.call("GET", "/models", query={"token": token} if token else None)
            models.extend(answer.get("models") or [])
            token = answer.get("token") or answer.get("nextToken")
            if not token:
                return models
        raise DroaError("DeepRacer on AWS kept returning more pages of models (over 1000); giving up")

    def get_model(self, model_id: str) -> dict[str, Any]:
        answer = self.call("GET", f"/models/{_segment(model_id)}")
        model = answer.get("model", answer) if isinstance(answer, dict) else None
        if not isinstance(model, dict):
            raise DroaRequestError(f"GET /models/{model_id}: the answer holds no model")
        return model

    def delete_model(self, model_id: str) -> None:
        self.call("DELETE", f"/models/{_segment(model_id)}")

    def asset_url(self, model_id: str, asset_type: str, evaluation_id: str | None = None) -> dict[str, Any]:
        """``{"url": ...}`` or ``{"status": "QUEUED"}`` while DRoA packages the asset."""
        query = {"assetType": asset_type}
        if evaluation_id:
            query["evaluationId"] = evaluation_id
        answer = self.call("GET", f"/models/{_segment(model_id)}/getasset", query=query)
        return dict(answer) if isinstance(answer, dict) else {}

    def import_model(self, body: dict[str, str]) -> str:
        """Start an import of files already uploaded; DRoA's new model id."""
        answer = self.call("POST", "/importmodel", body=body)
        model_id = answer.get("modelId") if isinstance(answer, dict) else None
        if not model_id:
            raise DroaRequestError("POST /importmodel: DeepRacer on AWS returned no modelId")
        return str(model_id)

    # ------------------------------------------------------------------ S3

    def s3_session(self) -> boto3.session.Session:
        """A boto3 session with the identity pool's credentials, for the upload bucket (PutObject only)."""
        c = self.credentials()
        return boto3.session.Session(
            aws_access_key_id=c.access_key_id,
            aws_secret_access_key=c.secret_key,
            aws_session_token=c.session_token,
            region_name=self.site.region,
        )


# --------------------------------------------------------------------------- error mapping


def _segment(value: str) -> str:
    """A model id as one path segment (never a way to reach another route)."""
    return urllib.parse.quote(value.strip(), safe="")


def _error_details(headers: Message, data: bytes) -> tuple[str, str]:
    """(error type, message) from API Gateway or Smithy error answers."""
    error_type = str(headers.get("x-amzn-ErrorType") or "").split(":")[0]
    message = ""
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        message = str(parsed.get("message") or parsed.get("Message") or parsed.get("errorMessage") or "")
        error_type = error_type or str(parsed.get("__type") or parsed.get("name") or "")
    return error_type, message.strip()


def _is_expired(error_type: str, message: str) -> bool:
    return error_type == "ExpiredTokenException" or "security token included in the request is expired" in message


def _http_error(method: str, path: str, status: int, error_type: str, message: str, data: bytes) -> DrfcError:
    what = f"{method} {path}"
    if status == 403 and not error_type and not message:
        return DroaRequestError(
            f"{what}: DeepRacer on AWS's firewall blocked the request (HTTP 403 without an API error)",
            status=status,
            hint=f"its WAF may reject this network or client; try from another network, or set "
            f"{BROWSER_HEADERS_ENV}=0/1 to change the browser-like headers",
        )
    if status == 403 and error_type in {"InvalidSignatureException", "IncompleteSignatureException"}:
        return DroaRequestError(
            f"{what}: DeepRacer on AWS rejected the request signature: {message}",
            status=status,
            hint="check that this machine's clock is right; re-run with DR_DROA_DEBUG=True for details",
        )
    if status == 403:
        return DroaRequestError(
            f"{what}: not allowed: {message or error_type}",
            status=status,
            hint="your DeepRacer on AWS user may lack the role for this (racers, race facilitators, admins)",
        )
    if status == 404:
        return DroaRequestError(f"{what}: not found: {message or 'no such model or route'}", status=status)
    detail = message or error_type or data[:200].decode("utf-8", errors="replace").strip() or "no details"
    if status >= 500:
        return DroaRequestError(f"{what}: DeepRacer on AWS failed (HTTP {status}): {detail}", status=status)
    return DroaRequestError(f"{what}: DeepRacer on AWS refused it (HTTP {status}): {detail}", status=status)
