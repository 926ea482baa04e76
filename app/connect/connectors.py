"""Connectors: the admin's configuration of each registered provider (client ID, encrypted
secret, tenant), the one redirect URI per provider, and the `Client` a provider is called with.

External Accounts asks this module which applications users may connect; it never names a
provider itself, so a second connector only adds a provider in `create_app`."""

import re
from datetime import date
from types import EllipsisType

from flask import current_app
from sqlalchemy import select

from app.connect import provider as providers
from app.connect.models import Connector
from app.connect.provider import Client, Provider
from app.core import crypto
from app.core.db import utcnow
from app.extensions import db
from app.users import audit
from app.users.models import User

GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
DOMAIN = re.compile(r"^(?=.{4,253}$)([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}$")


class ConnectorError(Exception):
    """A connector setting is wrong; `field` names the form field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class SecretUnreadable(ConnectorError):
    """The stored client secret opens with none of the configured keys: the admin re-enters it."""

    def __init__(self) -> None:
        super().__init__(
            "The connector's client secret can no longer be read (the encryption keys changed). "
            "Ask your administrator to enter it again in Admin > Connectors.",
            "client_secret",
        )


def spec(name: str) -> Provider | None:
    """The registered provider of that name, or None."""
    return providers.get(name)


def get(provider: str) -> Connector | None:
    """The stored configuration of a provider, if any."""
    return db.session.scalar(select(Connector).where(Connector.provider == provider))


def ready_connectors() -> list[Provider]:
    """Providers users may connect to now: enabled, with a client ID and a secret."""
    configured = {c.provider for c in db.session.scalars(select(Connector)) if c.is_ready}
    return [p for p in providers.every() if p.name in configured]


def every() -> list[Provider]:
    """Every provider the CRM can connect to, configured or not."""
    return providers.every()


def label(name: str) -> str:
    """A provider's label, or its name when it is no longer registered."""
    provider = providers.get(name)
    return provider.label if provider else name


def labels() -> dict[str, str]:
    """Each registered provider's label by name, for lists."""
    return {p.name: p.label for p in providers.every()}


def redirect_uri(provider: str) -> str:
    """The one redirect URI to register at the provider, built from PUBLIC_BASE_URL only."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/oauth/{provider}/callback"


def points_at_standin() -> bool:
    """Whether a provider is on this machine (a local stand-in), for the pages to say so."""
    return any(p.is_local() for p in providers.every())


def tenant_for(connector: Connector) -> str:
    """The tenant path segment: the configured tenant, or `common`."""
    return connector.tenant if connector.single_tenant and connector.tenant else "common"


def validate_tenant(single_tenant: bool, tenant: str) -> str:
    """A tenant is required only for a single-tenant app: a GUID or a verified domain."""
    tenant = tenant.strip()
    if not single_tenant:
        return "common"
    if not tenant:
        raise ConnectorError("Enter the Tenant ID of your single-tenant application.", "tenant")
    if not (GUID.match(tenant) or DOMAIN.match(tenant)):
        raise ConnectorError(
            "The Tenant ID must be a GUID (like 72f988bf-86f1-41af-91ab-2d7cd011db47) or a "
            "verified domain (like contoso.com).",
            "tenant",
        )
    return tenant.lower()


def save(
    actor: User | None,
    provider: str,
    *,
    client_id: str,
    client_secret: str | None,
    single_tenant: bool,
    tenant: str,
    enabled: bool,
    allow_anonymous_links: bool | None = None,
    secret_expires_on: date | None | EllipsisType = ...,
) -> list[str]:
    """Store the configuration (the caller commits); a blank secret,
    `allow_anonymous_links=None` and `secret_expires_on=...` keep the stored value. A new secret
    is no longer one the provider refused. Returns the changed fields."""
    client_id = client_id.strip()
    if not client_id:
        raise ConnectorError("Enter the Client ID of your Azure app registration.", "client_id")
    tenant = validate_tenant(single_tenant, tenant)
    connector = get(provider)
    if not client_secret and (connector is None or not connector.has_secret):
        raise ConnectorError(
            "Enter the Client Secret of your Azure app registration.", "client_secret"
        )
    if connector is None:
        connector = Connector(
            provider=provider,
            client_id="",
            enabled=True,
            single_tenant=False,
            tenant="common",
            allow_anonymous_links=False,
        )
        db.session.add(connector)
    if allow_anonymous_links is None:
        allow_anonymous_links = connector.allow_anonymous_links
    if secret_expires_on is ...:
        secret_expires_on = connector.secret_expires_on
    changed = _apply(
        connector,
        client_id=client_id,
        single_tenant=single_tenant,
        tenant=tenant,
        enabled=enabled,
        allow_anonymous_links=allow_anonymous_links,
        secret_expires_on=secret_expires_on,
    )
    if client_secret:
        connector.client_secret_encrypted = crypto.encrypt(client_secret.strip())
        connector.secret_set_at = utcnow()
        connector.secret_refused_at = None
        changed.append("client_secret")
    connector.updated_by_id = actor.id if actor else None
    if changed:
        audit.record(actor, "connector.updated", detail=f"{provider}: {', '.join(changed)}")
    db.session.flush()
    spec(provider).forget()
    return changed


def _apply(connector: Connector, **values) -> list[str]:
    changed = []
    for name, value in values.items():
        if getattr(connector, name) != value:
            setattr(connector, name, value)
            changed.append(name)
    return changed


def client(connector: Connector) -> Client:
    """The registration a provider is called with: client ID, the secret in clear (for the
    token endpoint only; raises SecretUnreadable) and the tenant."""
    return Client(connector.client_id, client_secret(connector), tenant_for(connector))


def client_secret(connector: Connector) -> str:
    """The decrypted client secret, for the token endpoint only (raises SecretUnreadable)."""
    try:
        return crypto.decrypt(connector.client_secret_encrypted)
    except crypto.DecryptionError as error:
        raise SecretUnreadable() from error


def secret_readable(connector: Connector | None) -> bool:
    """Whether a stored client secret still opens with the configured keys."""
    try:
        return connector is not None and bool(client_secret(connector))
    except SecretUnreadable:
        return False


def test_connection(provider: str) -> str:
    """Ask the provider to prove the configuration (discovery, client ID and secret); raise
    ProviderError (or ConnectorError) with the provider's words when something is wrong."""
    connector = get(provider)
    if connector is None or not connector.client_id or not connector.has_secret:
        raise ConnectorError("Save a Client ID and a Client Secret first.")
    return spec(provider).test_connection(client(connector))
