"""In-memory state of the stand-in: tenants, accounts, clients, codes, tokens, faults.

All mutable state lives in one :class:`Store` guarded by one lock, so the
threaded server can use the module-level :data:`STORE` from any request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

GRAPH = "https://graph.microsoft.com"
OUTLOOK = "https://outlook.office.com"

CONSUMER_TID = "9188040d-6c67-4c5b-b112-36a304b66dad"
CONTOSO_TID = "c0ffee00-0000-4000-8000-00000000c0de"
FABRIKAM_TID = "c0ffee00-0000-4000-8000-0000000fab00"
NORTHWIND_TID = "c0ffee00-0000-4000-8000-00000000a0a7"

CODE_LIFETIME = 600
PENDING_LIFETIME = 900
DEFAULT_ACCESS_TOKEN_LIFETIME = 3600
DEFAULT_REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600
DEFAULT_SIMPLE_UPLOAD_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class Tenant:
    """A directory: its GUID, display name, verified domains and whether users may consent.

    With ``user_consent`` off only an admin can consent to an app (for the whole tenant).
    """

    tid: str
    name: str
    domains: tuple[str, ...]
    user_consent: bool = True


@dataclass(frozen=True)
class Account:
    """A user account that can sign in."""

    oid: str
    tid: str
    name: str
    preferred_username: str
    email: str
    admin: bool = False


@dataclass
class Client:
    """A registered app. ``secret`` is None for a public client."""

    client_id: str
    secret: str | None
    redirect_uris: list[str]


@dataclass
class AccessToken:
    """An issued opaque access token and what it grants."""

    token: str
    audience: str
    scopes: frozenset[str]
    oid: str | None
    tid: str | None
    email: str | None
    client_id: str
    expires_at: float


@dataclass
class Fault:
    """An injected failure for one area (token, authorize, discovery, graph).

    ``code`` is the AADSTS code of mode ``aadsts``.
    """

    area: str
    mode: str
    remaining: int | None
    retry_after: int | None
    delay: float
    code: int | None = None


@dataclass
class Pending:
    """An authorize request waiting for the user to pick an account and consent."""

    id: str
    tenant: str
    client_id: str
    redirect_uri: str
    resource: str | None
    scopes: tuple[str, ...]
    oidc: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    login_hint: str | None
    expires_at: float
    response_mode: str = "query"
    prompt: str | None = None
    oid: str | None = None
    grants: tuple[tuple[str, str], ...] | None = None  # set only for an admin consent request


@dataclass
class AuthCode:
    """An authorization code bound to client, redirect URI, account and PKCE."""

    code: str
    client_id: str
    redirect_uri: str
    oid: str
    resource: str | None
    scopes: tuple[str, ...]
    oidc: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    used: bool = False


@dataclass
class RefreshToken:
    """A refresh token: the grant it continues and whether it still works."""

    token: str
    client_id: str
    oid: str
    resource: str | None
    scopes: tuple[str, ...]
    oidc: tuple[str, ...]
    expires_at: float
    revoked: bool = False


@dataclass
class Settings:
    """Run-time switches, changeable through the control API."""

    access_token_lifetime: int = DEFAULT_ACCESS_TOKEN_LIFETIME
    refresh_token_lifetime: int = DEFAULT_REFRESH_TOKEN_LIFETIME
    revoke_on_rotation: bool = False
    send_iss: bool = False
    drive_simple_upload_limit: int = DEFAULT_SIMPLE_UPLOAD_LIMIT
    drive_download_url_lifetime: int = 300
    drive_upload_session_lifetime: int = 3600


TENANTS = (
    Tenant(CONTOSO_TID, "Contoso", ("contoso.example",)),
    Tenant(FABRIKAM_TID, "Fabrikam", ("fabrikam.example",)),
    Tenant(NORTHWIND_TID, "Northwind Traders", ("northwind.example",), user_consent=False),
    Tenant(CONSUMER_TID, "Microsoft Accounts", ()),
)


_DOMAINS = {t.tid: t.domains[0] for t in TENANTS if t.domains}


def _account(oid: str, tid: str, name: str, mailbox: str, *, admin: bool = False) -> Account:
    email = f"{mailbox}@{_DOMAINS.get(tid, 'outlook.example')}"
    return Account(oid=oid, tid=tid, name=name, preferred_username=email, email=email, admin=admin)


ADELE = _account("a11ce000-0000-4000-8000-00000000ade1", CONTOSO_TID, "Adele Vance", "adele")
MEGAN = _account(
    "a11ce000-0000-4000-8000-00000000e6a0", CONTOSO_TID, "Megan Bowen", "megan", admin=True
)
ALEX = _account("a11ce000-0000-4000-8000-0000000a1e00", FABRIKAM_TID, "Alex Wilber", "alex")
PAT = _account("00000000-0000-0000-0000-0000000ba700", CONSUMER_TID, "Pat Personal", "pat")
NESTOR = _account("a11ce000-0000-4000-8000-00000000e570", NORTHWIND_TID, "Nestor Wilke", "nestor")
ISAIAH = _account(
    "a11ce000-0000-4000-8000-0000000a1a40", NORTHWIND_TID, "Isaiah Langer", "isaiah", admin=True
)
ACCOUNTS = (ADELE, MEGAN, ALEX, PAT, NESTOR, ISAIAH)


def pairwise_subject(client_id: str, oid: str) -> str:
    """The ``sub`` claim: stable per account and app, different across apps (like Microsoft's)."""
    digest = hashlib.sha256(f"{client_id}:{oid}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:43]


def _new_token(prefix: str) -> str:
    return f"{prefix}.{secrets.token_urlsafe(32)}"


class Store:
    """All state of one stand-in process, guarded by a single lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {t.tid: t for t in TENANTS}
        self.accounts: dict[str, Account] = {a.oid: a for a in ACCOUNTS}
        self.clients: dict[str, Client] = {}
        self.settings = Settings()
        self._initial_settings = Settings()
        self._pending: dict[str, Pending] = {}
        self._codes: dict[str, AuthCode] = {}
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._consents: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._tenant_consents: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._faults: dict[str, Fault] = {}
        self._stats: Counter[str] = Counter()
        self._reset_hooks: list[Callable[[], None]] = []

    # -- configuration ---------------------------------------------------
    def configure(self, **settings: object) -> Settings:
        """Change settings; the values given at startup become the reset defaults."""
        with self._lock:
            self.settings = replace(self.settings, **settings)
            self._initial_settings = replace(self._initial_settings, **settings)
            return self.settings

    def update_settings(self, **settings: object) -> Settings:
        """Change settings until the next :meth:`reset`."""
        with self._lock:
            self.settings = replace(self.settings, **settings)
            return self.settings

    def register_client(
        self, client_id: str, secret: str | None, redirect_uris: list[str]
    ) -> Client:
        """Register (or replace) a client."""
        with self._lock:
            client = Client(client_id, secret, list(redirect_uris))
            self.clients[client_id] = client
            return client

    def add_client_redirect(self, client_id: str, secret: str | None, redirect_uri: str) -> Client:
        """Register a client, or add a redirect URI to an existing one (CLI use)."""
        with self._lock:
            client = self.clients.get(client_id)
            if client is None:
                return self.register_client(client_id, secret, [redirect_uri])
            client.secret = secret
            if redirect_uri not in client.redirect_uris:
                client.redirect_uris.append(redirect_uri)
            return client

    def redirect_uris(self) -> list[str]:
        """Every redirect URI of every registered client."""
        with self._lock:
            return [uri for client in self.clients.values() for uri in client.redirect_uris]

    def get_client(self, client_id: str) -> Client | None:
        """Return a registered client or None."""
        with self._lock:
            return self.clients.get(client_id)

    def find_tenant(self, segment: str) -> Tenant | None:
        """Resolve a tenant GUID or verified domain (case-insensitive)."""
        key = segment.lower()
        with self._lock:
            for tenant in self.tenants.values():
                if key == tenant.tid or key in tenant.domains:
                    return tenant
        return None

    def accounts_for(self, segment: str) -> list[Account]:
        """Accounts that may sign in through a tenant path segment."""
        key = segment.lower()
        with self._lock:
            accounts = list(self.accounts.values())
        if key == "common":
            return accounts
        if key == "organizations":
            return [a for a in accounts if a.tid != CONSUMER_TID]
        if key == "consumers":
            return [a for a in accounts if a.tid == CONSUMER_TID]
        tenant = self.find_tenant(key)
        return [a for a in accounts if tenant and a.tid == tenant.tid]

    # -- authorize flow -----------------------------------------------------
    def add_pending(self, **fields: object) -> Pending:
        """Remember an authorize request; returns it with a fresh id."""
        pending = Pending(id=uuid.uuid4().hex, expires_at=time.time() + PENDING_LIFETIME, **fields)
        with self._lock:
            self._pending[pending.id] = pending
        return pending

    def get_pending(self, pending_id: str) -> Pending | None:
        """Return an unexpired pending request."""
        with self._lock:
            pending = self._pending.get(pending_id)
            if pending is None or pending.expires_at < time.time():
                return None
            return replace(pending)

    def choose_account(self, pending_id: str, oid: str) -> Pending | None:
        """Record the account picked for a pending request; returns a copy of it."""
        with self._lock:
            if self.get_pending(pending_id) is None:
                return None
            pending = self._pending[pending_id]
            pending.oid = oid
            return replace(pending)

    def pop_pending(self, pending_id: str) -> Pending | None:
        """Remove and return an unexpired pending request."""
        with self._lock:
            pending = self.get_pending(pending_id)
            self._pending.pop(pending_id, None)
            return pending

    def issue_code(self, pending: Pending, *, remember_consent: bool = True) -> AuthCode:
        """Issue an authorization code for a consented pending request.

        ``remember_consent`` records the user's own consent (off when a tenant-wide one covered it).
        """
        assert pending.oid is not None
        code = AuthCode(
            code=_new_token("code"),
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri,
            oid=pending.oid,
            resource=pending.resource,
            scopes=pending.scopes,
            oidc=pending.oidc,
            nonce=pending.nonce,
            code_challenge=pending.code_challenge,
            code_challenge_method=pending.code_challenge_method,
            expires_at=time.time() + CODE_LIFETIME,
        )
        with self._lock:
            self._codes[code.code] = code
            if pending.resource and remember_consent:
                granted = self._consents.setdefault((pending.client_id, pending.oid), set())
                granted.update((pending.resource, s) for s in pending.scopes)
        return code

    def peek_code(self, code: str) -> AuthCode | None:
        """Return a copy of a code's record (used or not) without consuming it."""
        with self._lock:
            record = self._codes.get(code)
            return replace(record) if record else None

    def use_code(self, code: str) -> bool:
        """Mark a code redeemed; False if it was already redeemed."""
        with self._lock:
            record = self._codes.get(code)
            if record is None or record.used:
                return False
            record.used = True
            return True

    def has_consent(self, client_id: str, oid: str, resource: str, scopes: tuple[str, ...]) -> bool:
        """Whether the user, or an admin for the user's tenant, consented to all these scopes."""
        with self._lock:
            granted = self._consents.get((client_id, oid), set())
            account = self.accounts.get(oid)
            if account and self.has_tenant_consent(client_id, account.tid, resource, scopes):
                return True
            return all((resource, s) in granted for s in scopes)

    # -- tenant-wide (admin) consent --------------------------------------------
    def grant_tenant_consent(self, client_id: str, tid: str, grants) -> None:
        """Record an admin's consent for a whole tenant to ``(resource, scope)`` pairs (adds)."""
        with self._lock:
            self._tenant_consents.setdefault((client_id, tid), set()).update(grants)

    def revoke_tenant_consent(self, client_id: str, tid: str) -> bool:
        """Forget a client's tenant-wide consent; False if there was none."""
        with self._lock:
            return self._tenant_consents.pop((client_id, tid), None) is not None

    def tenant_consents(self) -> list[tuple[str, str, set[tuple[str, str]]]]:
        """Every tenant-wide consent: client id, tenant id and the granted pairs (copies)."""
        with self._lock:
            return [(c, t, set(g)) for (c, t), g in self._tenant_consents.items()]

    def has_tenant_consent(
        self, client_id: str, tid: str, resource: str | None, scopes: tuple[str, ...]
    ) -> bool:
        """Whether an admin consented for the tenant to every scope (``.default`` covers all).

        With no resource scopes, any tenant-wide consent of the client counts.
        """
        with self._lock:
            granted = self._tenant_consents.get((client_id, tid))
            if granted is None:
                return False
            return all(
                (resource, s) in granted or (resource, ".default") in granted for s in scopes
            )

    # -- tokens ---------------------------------------------------------------
    def issue_access_token(
        self,
        *,
        audience: str,
        scopes,
        account: Account | None,
        client_id: str,
        lifetime: int | None = None,
    ) -> AccessToken:
        """Issue an opaque access token for one audience (resource)."""
        if lifetime is None:
            lifetime = self.settings.access_token_lifetime
        token = AccessToken(
            token=_new_token("at"),
            audience=audience,
            scopes=frozenset(scopes),
            oid=account.oid if account else None,
            tid=account.tid if account else None,
            email=account.email if account else None,
            client_id=client_id,
            expires_at=time.time() + lifetime,
        )
        with self._lock:
            self._access[token.token] = token
        return token

    def issue_app_token(self, *, audience: str, tid: str, client_id: str) -> AccessToken:
        """Issue an app-only (client_credentials) access token."""
        token = self.issue_access_token(
            audience=audience, scopes=(), account=None, client_id=client_id
        )
        token.tid = tid
        return token

    def lookup_access_token(self, token: str) -> AccessToken | None:
        """Return a copy of an access token's record; None when unknown or expired."""
        with self._lock:
            record = self._access.get(token)
            if record is None or record.expires_at <= time.time():
                return None
            return replace(record)

    def issue_refresh_token(
        self, *, client_id: str, oid: str, resource, scopes, oidc
    ) -> RefreshToken:
        """Issue a refresh token continuing a grant."""
        record = RefreshToken(
            token=_new_token("rt"),
            client_id=client_id,
            oid=oid,
            resource=resource,
            scopes=tuple(scopes),
            oidc=tuple(oidc),
            expires_at=time.time() + self.settings.refresh_token_lifetime,
        )
        with self._lock:
            self._refresh[record.token] = record
        return record

    def get_refresh_token(self, token: str) -> RefreshToken | None:
        """Return a copy of a refresh token's record (even if expired or revoked)."""
        with self._lock:
            record = self._refresh.get(token)
            return replace(record) if record else None

    def revoke_refresh_token(self, token: str) -> None:
        """Revoke one refresh token."""
        with self._lock:
            if token in self._refresh:
                self._refresh[token].revoked = True

    def revoke_account(self, oid: str) -> int:
        """Revoke every refresh token of an account; returns how many."""
        with self._lock:
            hits = [r for r in self._refresh.values() if r.oid == oid and not r.revoked]
            for record in hits:
                record.revoked = True
            return len(hits)

    def expire(
        self, *, access_tokens: bool = False, refresh_tokens: bool = False, codes: bool = False
    ) -> None:
        """Make every issued access token, refresh token and/or code expired."""
        past = time.time() - 1
        with self._lock:
            for flag, items in (
                (access_tokens, self._access),
                (refresh_tokens, self._refresh),
                (codes, self._codes),
            ):
                if flag:
                    for record in items.values():
                        record.expires_at = past

    # -- faults and stats ---------------------------------------------------
    def set_fault(self, fault: Fault) -> None:
        """Install a fault for its area, replacing any previous one."""
        with self._lock:
            self._faults[fault.area] = fault

    def clear_faults(self) -> None:
        """Remove all faults."""
        with self._lock:
            self._faults.clear()

    def take_fault(self, area: str) -> Fault | None:
        """Return the active fault for an area and use up one of its occurrences."""
        with self._lock:
            fault = self._faults.get(area)
            if fault is None:
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[area]
            self._stats[f"fault.{area}"] += 1
            return replace(fault)

    def count(self, event: str) -> None:
        """Count one occurrence of an event."""
        with self._lock:
            self._stats[event] += 1

    def stats(self) -> dict[str, int]:
        """Return a copy of all event counts."""
        with self._lock:
            return dict(self._stats)

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` after every :meth:`reset` (outside the store's lock)."""
        with self._lock:
            self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Forget codes, tokens, consents (tenant-wide too), faults, stats and setting changes.

        Accounts and clients stay. Reset hooks (e.g. the OneDrive seed) run afterwards.
        """
        with self._lock:
            for items in (
                self._pending,
                self._codes,
                self._access,
                self._refresh,
                self._consents,
                self._tenant_consents,
                self._faults,
            ):
                items.clear()
            self._stats.clear()
            self.settings = replace(self._initial_settings)
            hooks = list(self._reset_hooks)
        for hook in hooks:
            hook()


STORE = Store()
