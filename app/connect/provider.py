"""What the connect core needs from an identity provider, and nothing more.

External Accounts, the OAuth flows and the token service speak only to this protocol and to
`ProviderError`; a provider (Microsoft, or any OpenID Connect provider) is registered on the app
in `create_app`, so a second connector only adds an entry there and a connector row."""

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from flask import Flask, current_app


class ProviderError(Exception):
    """The provider answered with an error, or not at all; `message` is safe to show a user.

    `transient`: trying again later may work (timeouts, 429/503, server errors).
    `dead_grant`: the refresh token or the consent is gone; the account needs reconnecting.
    `status`: the HTTP status of the answer (401 when a resource refused an access token).
    `admin_message`: what to tell an administrator instead, when they can fix it themselves.
    `secret_refused`: the provider refused the app's client secret (invalid or expired), which
    breaks every user at once: the administrators are alerted."""

    def __init__(
        self,
        message: str,
        *,
        error: str = "",
        codes: tuple[int, ...] = (),
        status: int = 0,
        retry_after: int | None = None,
        transient: bool = False,
        dead_grant: bool = False,
        admin_message: str = "",
        secret_refused: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.admin_message = admin_message
        self.secret_refused = secret_refused
        self.error = error
        self.codes = codes
        self.status = status
        self.retry_after = retry_after
        self.transient = transient
        self.dead_grant = dead_grant

    def message_for(self, is_admin: bool) -> str:
        """The message for the person in front of the screen: an admin is told how to fix it."""
        return self.admin_message if is_admin and self.admin_message else self.message


class SignInRefused(ProviderError):
    """The answer to a sign-in cannot be used (cancelled, forged, stale): nothing is stored and
    the message is shown as it is."""


@dataclass(frozen=True)
class Client:
    """The app's registration at a provider, as an admin configured it (Admin > Connectors)."""

    client_id: str
    client_secret: str = field(repr=False)
    tenant: str = "common"


@dataclass(frozen=True)
class SignIn:
    """A verified sign-in: who signed in, by the provider's stable ids (tenant, object), with the
    names to show (never to authorize on), the id_token claims and the token response."""

    tenant_id: str
    object_id: str
    name: str
    username: str
    claims: dict
    tokens: dict = field(repr=False)


class Provider(Protocol):
    """An identity provider the CRM can connect accounts to."""

    name: str  # in URLs (/oauth/<name>/callback) and stored on accounts and credentials
    label: str  # on the screen: "Microsoft"

    def scopes(self, purpose: str) -> tuple[str, ...]:
        """The scopes one authorization for `purpose` asks for (one resource per token)."""

    def scope_words(self, scopes: str) -> list[str]:
        """Granted scopes in plain words, for an account's page."""

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
        """Where to send the browser to sign in: code flow, PKCE S256, state and nonce."""

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
        """Turn the answer at the redirect URI into a verified sign-in: refuse errors and a
        wrong issuer, redeem the code, check the id_token (raises SignInRefused, ProviderError)."""

    def refresh(
        self, client: Client, *, purpose: str, refresh_token: str, granted: str = ""
    ) -> dict:
        """Redeem a refresh token for no more than the scopes it was `granted` (a permission
        added to the purpose since is asked for by Reauthenticate); the answer carries the new
        (rotated) refresh token."""

    def test_connection(self, client: Client) -> str:
        """Prove the configuration (discovery, client ID and secret); the outcome in words."""

    def whoami(self, purpose: str, access_token: str) -> str:
        """Who an access token of `purpose` belongs to, in words (raises ProviderError, status
        401 when the token is refused)."""

    def forget(self) -> None:
        """Drop what the provider cached (discovery, keys) after its configuration changed."""

    def is_local(self) -> bool:
        """Whether the provider runs on this machine (a local stand-in, which pages mention)."""


@runtime_checkable
class OrganizationConsent(Protocol):
    """A provider where an administrator can consent for the whole organization at once, so
    users who may not consent themselves can connect."""

    def admin_consent_url(self, client: Client, *, redirect_uri: str, state: str) -> str:
        """Where to send the administrator to grant every permission the CRM asks for."""

    def admin_consent_result(self, params: dict) -> str:
        """The tenant the administrator consented for, from the answer at the redirect URI
        (raises SignInRefused with the reason when consent was not granted)."""


def register(app: Flask, provider: Provider) -> None:
    """Make a provider available to the app's connectors, flows and tokens."""
    app.extensions.setdefault("providers", {})[provider.name] = provider


def get(name: str) -> Provider | None:
    """The provider of that name, or None."""
    return current_app.extensions.get("providers", {}).get(name)


def every() -> list[Provider]:
    """Every registered provider, in the order they were registered."""
    return list(current_app.extensions.get("providers", {}).values())
