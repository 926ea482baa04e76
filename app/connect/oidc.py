"""Any OpenID Connect provider, through Authlib: discovery, the authorization code flow with PKCE
(S256), state and nonce, the code exchange and the refresh with the secret in the body
(client_secret_post), and the id_token's signature and claims (Authlib's `CodeIDToken` over
joserfc keys). Discovery documents and signing keys are cached per process for an hour; keys the
provider rolled are fetched again.

`OpenIDProvider` is complete for a standard provider; the Microsoft provider subclasses it for
its tenants, its issuer template and the meaning of its error codes."""

import json
import logging
import math
import threading
import time
from base64 import urlsafe_b64decode
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.connect.provider import Client, ProviderError, SignIn, SignInRefused
from app.core import http
from app.core.timing import Laps

log = logging.getLogger(__name__)
IDENTITY_SCOPES = ("openid", "profile", "email", "offline_access")
TRANSIENT_ERRORS = {"temporarily_unavailable", "server_error"}
CACHE_SECONDS = 3600
ID_TOKEN_LEEWAY = 120  # seconds of clock difference tolerated on exp/iat/nbf


@dataclass(frozen=True)
class Discovery:
    """A provider's endpoints and issuer, from its OpenID configuration."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str = ""


class _Session(http.EnvironmentOnce, OAuth2Session):
    """Authlib's OAuth 2.0 client session with the app's outbound HTTP rules (environment read
    once, no netrc, the configured timeout)."""


class OpenIDProvider:
    """A standard OpenID Connect provider (see the module's docstring); `purposes` names the
    scopes each purpose asks for beside the identity scopes."""

    authorize_params: dict = {}

    def __init__(self, name: str, label: str, *, issuer: str, purposes: dict[str, tuple[str, ...]]):
        self.name = name
        self.label = label
        self.issuer = issuer.rstrip("/")
        self._purposes = purposes
        self._cache: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    # --- what a subclass may change ----------------------------------------------------------

    def scopes(self, purpose: str) -> tuple[str, ...]:
        """The identity scopes and the purpose's own."""
        return IDENTITY_SCOPES + tuple(self._purposes[purpose])

    def scope_words(self, scopes: str) -> list[str]:
        """Granted scopes as they are (a provider with words for them says so)."""
        return scopes.split()

    def discovery_url(self, client: Client) -> str:
        """Where the OpenID configuration is."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def issuer_claim_option(self, discovery: Discovery) -> dict:
        """How the id_token's `iss` is checked (Authlib claims option)."""
        return {"essential": True, "value": discovery.issuer}

    def issuer_matches(self, discovery: Discovery, iss: str) -> bool:
        """RFC 9207: an `iss` parameter on the authorization response must name this issuer."""
        return iss == discovery.issuer

    def identity(self, client: Client, claims: dict) -> tuple[str, str]:
        """The stable (tenant, object) ids of who signed in: (issuer, subject)."""
        if not claims.get("sub"):
            raise SignInRefused(f"{self.label}'s sign-in token does not name the account.")
        return str(claims["iss"]), str(claims["sub"])

    def is_local(self) -> bool:
        """Whether the provider runs on this machine (a local stand-in)."""
        host = urlsplit(self.discovery_url(Client("", "", "common"))).hostname or ""
        return host in {"127.0.0.1", "localhost", "::1"}

    def describe(self, error: str, description: str, body: dict) -> ProviderError:
        """An OAuth error answer in words."""
        return ProviderError(
            description or error,
            error=error,
            transient=error in TRANSIENT_ERRORS,
            dead_grant=error in {"invalid_grant", "interaction_required", "consent_required"},
        )

    def authorize_error(self, params: dict) -> SignInRefused:
        """What to tell the person when the provider sent `error=` to the redirect URI."""
        error, description = params["error"], params.get("error_description", "")
        if error == "access_denied":
            return SignInRefused(f"You cancelled the connection to {self.label}.", error=error)
        return SignInRefused(
            f"{self.label} could not complete the sign-in: {description or error}", error=error
        )

    def whoami(self, purpose: str, access_token: str) -> str:
        """Who the token belongs to, from the userinfo endpoint."""
        discovery = self.discover(Client("", "", "common"))
        if not discovery.userinfo_endpoint:
            raise ProviderError(f"{self.label} offers no way to ask who is signed in.")
        response = self._get(
            discovery.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"}
        )
        if response.status_code == 401:
            raise ProviderError(f"{self.label} did not accept the access token.", status=401)
        me = self._json(response)
        return (
            f"The connection works: signed in as {me.get('name', '')} "
            f"({me.get('email') or me.get('preferred_username') or me.get('sub', '')})."
        )

    def test_connection(self, client: Client) -> str:
        """Read the discovery document and let the token endpoint judge the client: a dummy
        code is refused with invalid_grant only once the client ID and secret were accepted."""
        discovery = self.discover(client)
        try:
            self._token_request(
                client,
                discovery,
                grant_type="authorization_code",
                code="connection-test",
                redirect_uri="https://localhost/connection-test",
            )
        except ProviderError as error:
            if error.error != "invalid_grant":
                raise
        return f"Connection works: {self.label} answered and accepted the client ID and secret."

    # --- the protocol ------------------------------------------------------------------------

    def authorization_url(
        self,
        client: Client,
        *,
        purpose: str,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_verifier: str,
        login_hint: str | None = None,
    ) -> str:
        """The authorize URL: code flow, PKCE S256, state, nonce, the provider's own params."""
        discovery = self.discover(client)
        session = self._session(client, self.scopes(purpose), redirect_uri)
        extra = {"login_hint": login_hint} if login_hint else {}
        url, _ = session.create_authorization_url(
            discovery.authorization_endpoint,
            state=state,
            code_verifier=code_verifier,
            nonce=nonce,
            **self.authorize_params,
            **extra,
        )
        return url

    def sign_in(
        self,
        client: Client,
        *,
        purpose: str,
        params: dict,
        redirect_uri: str,
        code_verifier: str,
        nonce: str,
    ) -> SignIn:
        """Refuse an error answer or a foreign issuer, redeem the code, verify the id_token."""
        if params.get("error"):
            raise self.authorize_error(params)
        discovery = self.discover(client)
        if params.get("iss") and not self.issuer_matches(discovery, params["iss"]):
            raise SignInRefused(
                "The sign-in answer came from an unexpected issuer; nothing was stored."
            )
        if not params.get("code"):
            raise SignInRefused(
                f"{self.label} did not send an authorization code. Please connect again."
            )
        laps = Laps()
        tokens = self._token_request(
            client,
            discovery,
            grant_type="authorization_code",
            code=params["code"],
            code_verifier=code_verifier,
            redirect_uri=redirect_uri,
            scope=" ".join(self.scopes(purpose)),
        )
        if not tokens.get("access_token") or not tokens.get("id_token"):
            raise SignInRefused(
                f"{self.label}'s answer lacked the tokens we asked for. Please connect again."
            )
        laps("token request")
        claims = self.verify_id_token(client, discovery, tokens["id_token"], nonce)
        laps("id_token check")
        log.info("%s sign-in: %s", self.label, laps)
        tenant_id, object_id = self.identity(client, claims)
        return SignIn(
            tenant_id,
            object_id,
            str(claims.get("name", "")),
            str(claims.get("preferred_username") or claims.get("email") or ""),
            claims,
            tokens,
        )

    def refresh(
        self, client: Client, *, purpose: str, refresh_token: str, granted: str = ""
    ) -> dict:
        """Redeem a refresh token (the answer carries the rotated one)."""
        discovery = self.discover(client)
        scopes = self.refresh_scopes(purpose, granted)
        session = self._session(client, scopes)
        return self._call(
            lambda: session.refresh_token(
                discovery.token_endpoint,
                refresh_token=refresh_token,
                scope=" ".join(scopes),
                allow_redirects=False,
            )
        )

    def refresh_scopes(self, purpose: str, granted: str) -> tuple[str, ...]:
        """The purpose's scopes that the grant holds (all of them when the grant's scopes are
        unknown): a refresh asking for a scope added to the purpose after the user consented
        is refused by the provider, and the account would be lost for what it still may do."""
        held = {scope.rsplit("/", 1)[-1].lower() for scope in granted.split()}
        if not held:
            return self.scopes(purpose)
        return tuple(
            scope
            for scope in self.scopes(purpose)
            if scope in IDENTITY_SCOPES or scope.rsplit("/", 1)[-1].lower() in held
        )

    def forget(self) -> None:
        """Forget cached discovery documents and keys."""
        with self._lock:
            self._cache.clear()

    # --- discovery and keys ------------------------------------------------------------------

    def discover(self, client: Client) -> Discovery:
        """The endpoints and issuer, from the OpenID configuration (cached)."""
        url = self.discovery_url(client)

        def load() -> Discovery:
            doc = self._json(self._get(url))
            try:
                return Discovery(
                    str(doc["issuer"]),
                    str(doc["authorization_endpoint"]),
                    str(doc["token_endpoint"]),
                    str(doc["jwks_uri"]),
                    str(doc.get("userinfo_endpoint") or ""),
                )
            except KeyError as missing:
                raise ProviderError(
                    f"{self.label}'s OpenID configuration lacks {missing}.", transient=True
                ) from None

        return self._cached(f"discovery:{url}", load)

    def keys(self, discovery: Discovery, *, again: bool = False) -> KeySet:
        """The signing keys (cached; `again` fetches them anew)."""
        key = f"jwks:{discovery.jwks_uri}"
        if again:
            with self._lock:
                self._cache.pop(key, None)
        return self._cached(
            key, lambda: KeySet.import_key_set(self._json(self._get(discovery.jwks_uri)))
        )

    def verify_id_token(self, client: Client, discovery: Discovery, id_token: str, nonce: str):
        """The id_token's claims once its signature, issuer, audience, nonce and lifetime hold."""
        try:
            token = self._decode(discovery, id_token)
        except JoseError as error:
            raise SignInRefused(
                f"{self.label}'s sign-in token has an invalid signature. Nothing was stored."
            ) from error
        except ValueError as error:
            raise SignInRefused(
                f"{self.label}'s sign-in token could not be read. Nothing was stored."
            ) from error
        claims = CodeIDToken(
            token.claims,
            token.header,
            options={
                "iss": self.issuer_claim_option(discovery),
                "aud": {"essential": True, "value": client.client_id},
            },
            params={"nonce": nonce, "client_id": client.client_id},
        )
        try:
            claims.validate(leeway=ID_TOKEN_LEEWAY)
        except JoseError as error:
            claim = getattr(error, "claim", "") or str(error)
            raise SignInRefused(
                f"{self.label}'s sign-in token failed the {claim} check. Nothing was stored."
            ) from error
        return dict(claims)

    def _decode(self, discovery: Discovery, id_token: str):
        header = json.loads(_b64(id_token.split(".")[0]))
        keys = self.keys(discovery)
        if header.get("kid") and not any(k.kid == header["kid"] for k in keys.keys):
            keys = self.keys(discovery, again=True)  # the provider rolled its signing keys
        return jwt.decode(id_token, keys, algorithms=["RS256"])

    def _cached(self, key: str, load):
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        value = load()
        log.info("Fetched %s (kept %d s)", key, CACHE_SECONDS)
        with self._lock:
            self._cache[key] = (time.monotonic() + CACHE_SECONDS, value)
        return value

    # --- HTTP --------------------------------------------------------------------------------

    def _session(self, client: Client, scopes=(), redirect_uri: str | None = None) -> _Session:
        session = _Session(
            client_id=client.client_id,
            client_secret=client.client_secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106  (a method name)
            code_challenge_method="S256",
            redirect_uri=redirect_uri,
            scope=" ".join(scopes) or None,
        )
        for hook in ("access_token_response", "refresh_token_response"):
            session.register_compliance_hook(hook, self._check_answer)
        return session

    def _token_request(self, client: Client, discovery: Discovery, scopes=(), **grant) -> dict:
        session = self._session(client, scopes, grant.pop("redirect_uri", None))
        return self._call(
            lambda: session.fetch_token(discovery.token_endpoint, allow_redirects=False, **grant)
        )

    def _call(self, request):
        """Run an Authlib token request; every failure becomes a ProviderError in words."""
        try:
            with self._answering():
                return dict(request())
        except OAuthError as error:
            raise self.describe(error.error or "", error.description or "", {}) from error

    @contextmanager
    def _answering(self):
        """No answer at all (a timeout, a refused connection) is a transient ProviderError."""
        try:
            yield
        except requests.Timeout as error:
            raise ProviderError(
                f"{self.label} did not answer in time. Please try again in a moment.",
                transient=True,
            ) from error
        except requests.RequestException as error:
            raise ProviderError(
                f"{self.label} could not be reached. Please try again in a moment.",
                transient=True,
            ) from error

    def _check_answer(self, response: requests.Response) -> requests.Response:
        """Authlib's hook on every token answer: anything but a 200 JSON object is an error
        with its words, its codes and its Retry-After."""
        if response.status_code != 200:
            raise self.error_of(response)
        self._json(response)
        return response

    def _get(self, url: str, **kwargs) -> requests.Response:
        with self._answering():
            return _http.get(url, allow_redirects=False, **kwargs)

    def _json(self, response: requests.Response) -> dict:
        if response.status_code != 200:
            raise self.error_of(response)
        try:
            body = response.json()
        except ValueError as error:
            raise ProviderError(
                f"{self.label} answered with something that is not JSON. Please try again.",
                transient=True,
            ) from error
        if not isinstance(body, dict):
            raise ProviderError(
                f"{self.label} answered with an unexpected document.", transient=True
            )
        return body

    def error_of(self, response: requests.Response) -> ProviderError:
        """An error answer in words: busy (429/503, with Retry-After), an OAuth error, or an
        unexpected page."""
        retry = retry_after(response)
        if response.status_code in (429, 503):
            wait = f"in {retry} seconds" if retry else "in a moment"
            return ProviderError(
                f"{self.label} is busy right now (HTTP {response.status_code}). "
                f"Please try again {wait}.",
                status=response.status_code,
                retry_after=retry,
                transient=True,
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "error" not in body:
            return ProviderError(
                f"{self.label} answered with an unexpected error (HTTP {response.status_code}). "
                "Please try again in a moment.",
                status=response.status_code,
                retry_after=retry,
                transient=response.status_code >= 500,
            )
        error = self.describe(
            str(body.get("error", "")), str(body.get("error_description", "")), body
        )
        error.status, error.retry_after = response.status_code, retry
        error.transient = error.transient or response.status_code in (429, 503, 504)
        return error


_http = http.Session()


def retry_after(response: requests.Response) -> int | None:
    """The Retry-After header in whole seconds from now: it is a number of seconds or an HTTP
    date (RFC 9110 10.2.3); None when there is none or it is neither."""
    value = (response.headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil((when - datetime.now(UTC)).total_seconds()))


def _b64(segment: str) -> bytes:
    return urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
