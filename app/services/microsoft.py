"""Everything Microsoft-specific: endpoints from discovery, scopes per purpose, token calls,
id_token checks and the meaning of AADSTS error codes. Nothing else in the app knows them."""

import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import requests
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.services import http

PROVIDER = "microsoft"
LABEL = "Microsoft"
CALLBACK_PATH = "/oauth/microsoft/callback"
TENANTS_WITHOUT_ID = ("common", "organizations", "consumers")
IDENTITY_SCOPES = ("openid", "profile", "email", "offline_access")

# invalid_grant with these AADSTS codes means the grant is dead: reconnect.
DEAD_GRANT_CODES = {50173, 65001, 70000, 70008, 70043, 700082, 700084, 50076, 50079}
TRANSIENT_ERRORS = {"temporarily_unavailable", "server_error"}
CODE_MESSAGES = {
    50011: "The redirect URI registered in Azure does not match this CRM's redirect URI.",
    54005: "This sign-in was already used. Please connect again.",
    65001: "Consent was not granted for this app. Please connect again and accept.",
    70002: "Microsoft rejected the client secret. Ask your administrator to check Admin > "
    "Connectors.",
    7000215: "Microsoft rejected the client secret. Ask your administrator to check Admin > "
    "Connectors.",
    700016: "Microsoft does not know this client ID in that tenant. Ask your administrator to "
    "check Admin > Connectors.",
    90002: "Microsoft does not know that tenant.",
}
SCOPE_WORDS = {
    "openid": "Sign you in",
    "profile": "Read your name",
    "email": "Read your email address",
    "offline_access": "Keep access while you are away (refresh)",
    "User.Read": "Read your profile",
    "Files.ReadWrite.All": "Read and write all files you can access in OneDrive",
    "Files.Read.All": "Read all files you can access in OneDrive",
    "Mail.Send": "Send mail as you (Microsoft Graph)",
    "SMTP.Send": "Send mail as you (SMTP)",
    "IMAP.AccessAsUser.All": "Read your mailbox (IMAP)",
}


@dataclass(frozen=True)
class Purpose:
    """What an authorization is for, with the scopes it asks for (one resource per token)."""

    name: str
    scopes: tuple[str, ...]


def purposes() -> dict[str, Purpose]:
    """Scopes per purpose; mail scopes live on the Outlook resource, OneDrive on Graph."""
    outlook = current_app.config["MICROSOFT_OUTLOOK_RESOURCE"]
    return {
        "onedrive": Purpose("onedrive", IDENTITY_SCOPES + ("User.Read", "Files.ReadWrite.All")),
        "mail": Purpose(
            "mail", IDENTITY_SCOPES + (f"{outlook}/SMTP.Send", f"{outlook}/IMAP.AccessAsUser.All")
        ),
        "graph_mail": Purpose("graph_mail", IDENTITY_SCOPES + ("User.Read", "Mail.Send")),
    }


def scope_words(scopes: str) -> list[str]:
    """Granted scopes in plain words, for the account page."""
    words = []
    for scope in scopes.split():
        short = scope.rsplit("/", 1)[-1]
        words.append(SCOPE_WORDS.get(short, short))
    return words


class MicrosoftError(Exception):
    """Microsoft answered with an error (or not at all); `message` is safe to show a user."""

    def __init__(
        self,
        message: str,
        *,
        error: str = "",
        codes: tuple[int, ...] = (),
        status: int = 0,
        retry_after: int | None = None,
        transient: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.error = error
        self.codes = codes
        self.status = status
        self.retry_after = retry_after
        self.transient = transient

    @property
    def dead_grant(self) -> bool:
        """The refresh token (or consent) is gone: the account needs reconnecting."""
        return self.error in {"invalid_grant", "interaction_required", "consent_required"} and (
            not self.codes
            or bool(DEAD_GRANT_CODES & set(self.codes))
            or self.error != "invalid_grant"
        )


def _timeout():
    return current_app.config["HTTP_TIMEOUT"]


_session = http.Session()


def _http(method: str, url: str, **kwargs) -> requests.Response:
    try:
        return _session.request(method, url, timeout=_timeout(), allow_redirects=False, **kwargs)
    except requests.Timeout as error:
        raise MicrosoftError(
            "Microsoft did not answer in time. Please try again in a moment.", transient=True
        ) from error
    except requests.RequestException as error:
        raise MicrosoftError(
            "Microsoft could not be reached. Please try again in a moment.", transient=True
        ) from error


def _error_from(response: requests.Response) -> MicrosoftError:
    retry_after = response.headers.get("Retry-After")
    retry = int(retry_after) if retry_after and retry_after.isdigit() else None
    if response.status_code in (429, 503):
        wait = f"in {retry} seconds" if retry else "in a moment"
        return MicrosoftError(
            f"Microsoft is busy right now (HTTP {response.status_code}). Please try again {wait}.",
            status=response.status_code,
            retry_after=retry,
            transient=True,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "error" not in body:
        transient = response.status_code >= 500 or response.status_code == 429
        return MicrosoftError(
            f"Microsoft answered with an unexpected error (HTTP {response.status_code}). "
            "Please try again in a moment.",
            status=response.status_code,
            retry_after=retry,
            transient=transient,
        )
    error = str(body.get("error", ""))
    codes = tuple(int(c) for c in body.get("error_codes", []) if str(c).isdigit())
    description = str(body.get("error_description", "")).split("\r\n")[0].split(" Trace ID")[0]
    known = next((CODE_MESSAGES[c] for c in codes if c in CODE_MESSAGES), None)
    transient = error in TRANSIENT_ERRORS or response.status_code in (429, 503, 504)
    return MicrosoftError(
        known or description or error,
        error=error,
        codes=codes,
        status=response.status_code,
        retry_after=retry,
        transient=transient,
    )


def _json(response: requests.Response) -> dict:
    if response.status_code != 200:
        raise _error_from(response)
    try:
        body = response.json()
    except ValueError as error:
        raise MicrosoftError(
            "Microsoft answered with something that is not JSON. Please try again.", transient=True
        ) from error
    if not isinstance(body, dict):
        raise MicrosoftError("Microsoft answered with an unexpected document.", transient=True)
    return body


# --- discovery and keys (cached per process) ----------------------------------------------------


@dataclass(frozen=True)
class Discovery:
    """The endpoints and issuer of one tenant, from its OpenID configuration."""

    tenant: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


_cache: dict[str, tuple[float, object]] = {}
_cache_lock = threading.Lock()
CACHE_SECONDS = 3600


def _cached(key: str, load):
    with _cache_lock:
        hit = _cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
    value = load()
    with _cache_lock:
        _cache[key] = (time.monotonic() + CACHE_SECONDS, value)
    return value


def clear_cache() -> None:
    """Forget cached discovery documents and keys (after the connector changes)."""
    with _cache_lock:
        _cache.clear()


def discover(tenant: str) -> Discovery:
    """The tenant's endpoints from `{authority}/{tenant}/v2.0/.well-known/openid-configuration`."""
    authority = current_app.config["MICROSOFT_AUTHORITY"]
    url = f"{authority}/{tenant}/v2.0/.well-known/openid-configuration"

    def load() -> Discovery:
        response = _http("GET", url)
        if response.status_code == 400:
            error = _error_from(response)
            if 90002 in error.codes or error.error == "invalid_tenant":
                raise MicrosoftError(
                    f"Microsoft does not know the tenant “{tenant}”.",
                    error=error.error,
                    codes=error.codes,
                    status=400,
                )
            raise error
        doc = _json(response)
        try:
            return Discovery(
                tenant,
                str(doc["issuer"]),
                str(doc["authorization_endpoint"]),
                str(doc["token_endpoint"]),
                str(doc["jwks_uri"]),
            )
        except KeyError as missing:
            raise MicrosoftError(
                f"Microsoft's OpenID configuration lacks {missing}.", transient=True
            ) from None

    return _cached(f"discovery:{url}", load)


def _keys(discovery: Discovery, refresh: bool = False) -> KeySet:
    key = f"jwks:{discovery.jwks_uri}"
    if refresh:
        with _cache_lock:
            _cache.pop(key, None)

    def load() -> KeySet:
        return KeySet.import_key_set(_json(_http("GET", discovery.jwks_uri)))

    return _cached(key, load)


# --- the authorization code flow ---------------------------------------------------------------


def authorization_url(
    discovery: Discovery,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    state: str,
    nonce: str,
    code_challenge: str,
    login_hint: str | None = None,
) -> str:
    """The authorize URL: code flow, query response mode, PKCE S256, account picker."""
    params = {
        "client_id": client_id,
        "response_type": "code",
        "response_mode": "query",
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "prompt": "select_account",
    }
    if login_hint:
        params["login_hint"] = login_hint
    return f"{discovery.authorization_endpoint}?{urlencode(params)}"


def _token_request(discovery: Discovery, client_id: str, client_secret: str, **grant):
    """POST one grant to the token endpoint with the client secret in the body
    (client_secret_post); returns the raw response."""
    data = {"client_id": client_id, "client_secret": client_secret, **grant}
    return _http("POST", discovery.token_endpoint, data=data)


def redeem_code(
    discovery: Discovery,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    scopes: tuple[str, ...],
) -> dict:
    """Exchange the authorization code (client_secret_post, PKCE verifier) for tokens."""
    return _json(
        _token_request(
            discovery,
            client_id,
            client_secret,
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            scope=" ".join(scopes),
        )
    )


def refresh(
    discovery: Discovery,
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    scopes: tuple[str, ...],
) -> dict:
    """Redeem a refresh token; Microsoft answers with a new (rotated) refresh token too."""
    return _json(
        _token_request(
            discovery,
            client_id,
            client_secret,
            grant_type="refresh_token",
            refresh_token=refresh_token,
            scope=" ".join(scopes),
        )
    )


def client_credentials(discovery: Discovery, *, client_id: str, client_secret: str) -> dict:
    """An app-only Graph token: proves the client ID and secret work in the tenant."""
    return _json(
        _token_request(
            discovery,
            client_id,
            client_secret,
            grant_type="client_credentials",
            scope="https://graph.microsoft.com/.default",
        )
    )


def check_client(
    discovery: Discovery, *, client_id: str, client_secret: str, tenant_specific: bool
) -> None:
    """Prove the client ID and secret. In a concrete tenant: an app-only Graph token. On
    `common` (no home tenant to ask): redeem a dummy code, which Microsoft refuses with
    invalid_grant only after it accepted the client; anything else is the real error."""
    if tenant_specific:
        client_credentials(discovery, client_id=client_id, client_secret=client_secret)
        return
    response = _token_request(
        discovery,
        client_id,
        client_secret,
        grant_type="authorization_code",
        code="connection-test",
        redirect_uri="https://localhost/connection-test",
        scope="openid",
    )
    if response.status_code == 200:
        return
    error = _error_from(response)
    if error.error != "invalid_grant":
        raise error


def expected_issuer(discovery_issuer: str, tid: str) -> str:
    """The issuer an id_token must carry: on common/organizations/consumers the discovery
    issuer is a template with `{tenantid}`, filled with the token's own `tid`."""
    return discovery_issuer.replace("{tenantid}", tid)


def issuer_matches(discovery: Discovery, iss: str) -> bool:
    """RFC 9207: an `iss` parameter on the authorization response must name this issuer."""
    template = discovery.issuer
    if "{tenantid}" not in template:
        return iss == template
    prefix, suffix = template.split("{tenantid}", 1)
    middle = iss[len(prefix) : len(iss) - len(suffix)] if iss.startswith(prefix) else ""
    return bool(middle) and iss.endswith(suffix) and "/" not in middle


class IdTokenError(Exception):
    """The id_token failed a check; the message says which, for the user and the log."""


def validate_id_token(
    discovery: Discovery, id_token: str, *, client_id: str, nonce: str, tenant: str
) -> dict:
    """Check signature (JWKS), audience, nonce, expiry and issuer; return the claims."""
    try:
        token = _decode(discovery, id_token)
    except JoseError as error:
        raise IdTokenError("Microsoft's sign-in token has an invalid signature.") from error
    except ValueError as error:
        raise IdTokenError("Microsoft's sign-in token could not be read.") from error
    claims = token.claims
    tid = str(claims.get("tid", ""))
    if not tid or not claims.get("oid"):
        raise IdTokenError("Microsoft's sign-in token does not name the account (tid/oid).")
    registry = jwt.JWTClaimsRegistry(
        leeway=120,
        iss={"essential": True, "value": expected_issuer(discovery.issuer, tid)},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as error:
        claim = getattr(error, "claim", "") or str(error)
        raise IdTokenError(f"Microsoft's sign-in token failed the {claim} check.") from error
    if tenant not in TENANTS_WITHOUT_ID and _is_guid(tenant) and tid != tenant:
        raise IdTokenError(
            "That account belongs to another Microsoft tenant than the one "
            "this CRM is configured for."
        )
    return claims


def _decode(discovery: Discovery, id_token: str):
    header = json.loads(_b64(id_token.split(".")[0]))
    keys = _keys(discovery)
    if header.get("kid") and not any(k.kid == header["kid"] for k in keys.keys):
        keys = _keys(discovery, refresh=True)  # Microsoft rolled its signing keys
    return jwt.decode(id_token, keys, algorithms=["RS256"])


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _is_guid(value: str) -> bool:
    parts = value.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12]


def authorize_error_message(error: str, description: str) -> str:
    """What to tell the user when Microsoft sent `error=` to the callback."""
    if error == "access_denied":
        return "You cancelled the connection to Microsoft."
    text = description.split("\r\n")[0].split(" Trace ID")[0].strip()
    return f"Microsoft could not complete the sign-in: {text or error}"


# --- OneDrive through Graph (used by app/services/graph.py) --------------------------------------

GRAPH_SIMPLE_UPLOAD_MAX = 4 * 1024 * 1024  # PUT .../content takes at most 4 MiB
GRAPH_UPLOAD_CHUNK_UNIT = 320 * 1024  # upload-session fragments are multiples of 320 KiB
GRAPH_UPLOAD_CHUNK_MAX = 32 * GRAPH_UPLOAD_CHUNK_UNIT  # 10 MiB: the largest fragment we send
GRAPH_NAME_CONFLICT = "nameAlreadyExists"  # error code of conflictBehavior=fail
# Drive and item ids are opaque but never contain "/", "?", "#", ":" or dots.
GRAPH_ID_PATTERN = r"[A-Za-z0-9!_-]{1,256}"


def graph_me(access_token: str) -> dict:
    """Who the token belongs to, from Graph `/me` (proves the OneDrive connection works)."""
    url = f"{current_app.config['MICROSOFT_GRAPH_URL']}/me"
    response = _http(
        "GET",
        url,
        headers={"Authorization": f"Bearer {access_token}"},
        params={"$select": "id,displayName,userPrincipalName,mail"},
    )
    if response.status_code == 401:
        raise MicrosoftError(
            "Microsoft did not accept the access token.", error="unauthorized", status=401
        )
    if response.status_code != 200:
        raise _graph_error(response)
    return response.json()


def _graph_error(response: requests.Response) -> MicrosoftError:
    retry_after = response.headers.get("Retry-After")
    retry = int(retry_after) if retry_after and retry_after.isdigit() else None
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}"
    return MicrosoftError(
        f"Microsoft Graph answered: {message}",
        status=response.status_code,
        retry_after=retry,
        transient=response.status_code in (429, 500, 502, 503, 504),
    )


# --- Exchange Online mail (used by app/services/mail.py) ----------------------------------------

# Server, port and security pre-filled for an Exchange Online mailbox (editable per account).
EXCHANGE_SMTP = ("smtp.office365.com", 587, "starttls")
EXCHANGE_IMAP = ("outlook.office365.com", 993, "ssl")
# Microsoft's SMTP and IMAP hosts per cloud, keyed by the Outlook resource the mail scopes are
# on (MICROSOFT_OUTLOOK_RESOURCE): worldwide, US Government (GCC High/DoD), China (21Vianet).
EXCHANGE_MAIL_HOSTS = {
    "https://outlook.office.com": ("smtp.office365.com", "outlook.office365.com"),
    "https://outlook.office365.us": ("smtp.office365.us", "outlook.office365.us"),
    "https://partner.outlook.cn": ("smtp.partner.outlook.cn", "partner.outlook.cn"),
}


def exchange_mail_hosts() -> tuple[str, str] | tuple[()]:
    """The configured cloud's (SMTP host, IMAP host): the only hosts an Exchange Online mail
    token goes to besides MAIL_ALLOWED_HOSTS; () for a resource we do not know."""
    resource = current_app.config["MICROSOFT_OUTLOOK_RESOURCE"].rstrip("/").lower()
    return EXCHANGE_MAIL_HOSTS.get(resource, ())


def exchange_servers() -> tuple[tuple[str, int, str], tuple[str, int, str]]:
    """The SMTP and IMAP (host, port, security) pre-filled for Exchange Online in this cloud."""
    hosts = exchange_mail_hosts() or (EXCHANGE_SMTP[0], EXCHANGE_IMAP[0])
    return (hosts[0], *EXCHANGE_SMTP[1:]), (hosts[1], *EXCHANGE_IMAP[1:])


# Enhanced status codes Exchange Online answers SMTP AUTH with, in words.
SMTP_AUTH_CODES = {
    "5.7.139": "SMTP AUTH is turned off for this mailbox or tenant; an Exchange administrator "
    "must allow Authenticated SMTP.",
    "5.7.57": "The server wants the client authenticated before sending.",
    "5.2.252": "This mailbox may not send as that address (SendAsDenied).",
}


def smtp_reply_words(reply: str) -> str:
    """Exchange Online's meaning of an SMTP reply, when we know it (else "")."""
    return next((words for code, words in SMTP_AUTH_CODES.items() if code in reply), "")


def graph_send_mail(access_token: str, message: dict) -> None:
    """`POST {graph}/me/sendMail` (scope Mail.Send on Graph): 202 Accepted, or MicrosoftError
    (status 401 when Graph refused the token). `message` is Graph's message resource."""
    response = _http(
        "POST",
        f"{current_app.config['MICROSOFT_GRAPH_URL']}/me/sendMail",
        headers={"Authorization": f"Bearer {access_token}"},
        json={"message": message, "saveToSentItems": True},
    )
    if response.status_code == 202:
        return
    if response.status_code == 401:
        raise MicrosoftError(
            "Microsoft Graph did not accept the access token.", error="unauthorized", status=401
        )
    raise _graph_error(response)


def graph_message(
    *, subject: str, body: str, to: list[str], cc: list[str], html: bool = False
) -> dict:
    """A Graph message resource for sendMail."""
    return {
        "subject": subject,
        "body": {"contentType": "HTML" if html else "Text", "content": body},
        "toRecipients": [{"emailAddress": {"address": a}} for a in to],
        "ccRecipients": [{"emailAddress": {"address": a}} for a in cc],
    }
