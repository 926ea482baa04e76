"""The one token service: encrypted storage of a provider's tokens and a valid access token on
demand, refreshed under a lock so several workers never spend the same refresh token twice.

It serves every purpose through a token *owner*: an object with `id`, `provider`, `status`,
`status_reason`, `user`, `credential` and an `AUDIT_NAME` (an ExternalAccount for OneDrive; an
email account, kept apart, for mail). A credential is only ever used for its own purpose."""

import fcntl
import logging
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app.alerts import service as alerts
from app.connect import connectors
from app.connect.models import CONNECTED, NEEDS_RECONNECT, Credential
from app.connect.provider import ProviderError
from app.core import crypto
from app.core.db import utcnow
from app.extensions import db
from app.users import audit

log = logging.getLogger(__name__)
REFRESH_MARGIN = timedelta(minutes=5)
USE_RECORD_INTERVAL = timedelta(minutes=10)


class TokenUnavailable(Exception):
    """No usable access token now; `needs_reconnect` says whether the user must reconnect."""

    def __init__(
        self, message: str, *, needs_reconnect: bool = False, retry_after: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.needs_reconnect = needs_reconnect
        self.retry_after = retry_after


UNREADABLE = (
    "The stored tokens can no longer be read (the encryption keys changed). Please reauthenticate."
)


def store(owner, purpose: str, tokens: dict) -> Credential:
    """Save a token response (encrypted) on the owner; the caller commits, inside `exclusive`
    when the owner already has tokens."""
    credential = owner.credential or Credential(purpose=purpose)
    credential.purpose = purpose
    _apply(credential, tokens)
    owner.credential = credential
    return credential


def _apply(credential: Credential, tokens: dict) -> None:
    now = utcnow()
    credential.access_token_encrypted = crypto.encrypt(tokens["access_token"])
    if tokens.get("refresh_token"):  # rotated: keep the newest; never drop the old one for none
        credential.refresh_token_encrypted = crypto.encrypt(tokens["refresh_token"])
    if tokens.get("scope"):
        credential.scopes = str(tokens["scope"])
    expires_in = int(tokens.get("expires_in") or 3600)
    credential.expires_at = now + timedelta(seconds=expires_in)
    credential.refreshed_at = now


@contextmanager
def exclusive(owner):
    """Hold the owner's refresh lock (when it has tokens) while new tokens are stored and
    committed: a refresh running now finishes first, and cannot overwrite the new grant."""
    credential = owner.credential
    if credential is None or credential.id is None:
        yield
        return
    db.session.commit()  # the lock is taken in a fresh transaction, before any write
    with _refresh_lock(credential.id):
        db.session.refresh(credential)
        yield


@contextmanager
def _refresh_lock(credential_id: int):
    """Serialize refreshes of one credential across processes: a row lock on PostgreSQL, a
    file lock beside the SQLite database (SQLite has no row locks)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            select(Credential.id).where(Credential.id == credential_id).with_for_update()
        )
        yield
        return
    folder = Path(current_app.instance_path) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"credential-{credential_id}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def access_token_for(owner, purpose: str) -> str:
    """A valid access token for this owner and purpose, refreshing when near expiry."""
    credential = owner.credential
    if credential is None or credential.purpose != purpose or owner.status != CONNECTED:
        raise TokenUnavailable("This account is not connected.", needs_reconnect=True)
    if _unexpired(credential):
        _touch(credential)
        return _readable(owner, credential.access_token_encrypted)
    return _refresh(owner, credential.id, purpose)


def _readable(owner, ciphertext: str) -> str:
    """A stored token in clear; one that no configured key opens turns the owner red."""
    try:
        return crypto.decrypt(ciphertext)
    except crypto.DecryptionError as error:
        db.session.rollback()
        mark_needs_reconnect(owner, UNREADABLE)
        raise TokenUnavailable(UNREADABLE, needs_reconnect=True) from error


def _touch(credential: Credential) -> None:
    """Note the use (for the idle report) at most every few minutes, not on every request."""
    now = utcnow()
    if credential.last_used_at is None or now - credential.last_used_at > USE_RECORD_INTERVAL:
        credential.last_used_at = now
        db.session.commit()  # the point: a read-only request records the use too


def force_refresh(owner, purpose: str, rejected: str) -> str:
    """A new access token after the resource rejected `rejected` (HTTP 401), unless another
    worker already replaced it; same lock and errors as `access_token_for`."""
    credential = owner.credential
    if credential is None or credential.purpose != purpose or owner.status != CONNECTED:
        raise TokenUnavailable("This account is not connected.", needs_reconnect=True)
    return _refresh(
        owner,
        credential.id,
        purpose,
        reusable=lambda c: _readable(owner, c.access_token_encrypted) != rejected,
    )


def refresh_now(owner, purpose: str) -> str:
    """Redeem the refresh token now (cron keeps idle tokens alive), unless another worker
    refreshed it since this call began."""
    credential = owner.credential
    if credential is None or credential.purpose != purpose or owner.status != CONNECTED:
        raise TokenUnavailable("This account is not connected.", needs_reconnect=True)
    started = utcnow()
    return _refresh(
        owner,
        credential.id,
        purpose,
        reusable=lambda c: c.refreshed_at is not None and c.refreshed_at >= started,
    )


def _unexpired(credential: Credential) -> bool:
    return bool(credential.expires_at and credential.expires_at - REFRESH_MARGIN > utcnow())


def _refresh(owner, credential_id: int, purpose: str, reusable=_unexpired) -> str:
    db.session.commit()  # end any open read so the lock is taken in a fresh transaction
    with _refresh_lock(credential_id):
        db.session.expire_all()
        credential = db.session.get(Credential, credential_id)
        if reusable(credential):
            token = _readable(owner, credential.access_token_encrypted)  # another worker did it
            db.session.commit()  # the point: the lock ends with this transaction
            return token
        tokens = _call_refresh(owner, credential, purpose)
        _apply(credential, tokens)
        credential.last_used_at = utcnow()
        db.session.commit()  # the point: the rotated refresh token is stored under the lock
        return tokens["access_token"]


def _call_refresh(owner, credential: Credential, purpose: str) -> dict:
    provider, connector = connectors.spec(owner.provider), connectors.get(owner.provider)
    if provider is None or connector is None or not connector.is_ready:
        db.session.rollback()
        raise TokenUnavailable("The connector is not configured. Please ask your administrator.")
    refresh_token = _readable(owner, credential.refresh_token_encrypted)
    try:
        client = connectors.client(connector)
    except connectors.SecretUnreadable as error:
        db.session.rollback()
        raise TokenUnavailable(error.message) from error
    try:
        return provider.refresh(
            client, purpose=purpose, refresh_token=refresh_token, granted=credential.scopes or ""
        )
    except ProviderError as error:
        if error.dead_grant:
            mark_needs_reconnect(owner, error.message)
            raise TokenUnavailable(
                f"{provider.label} no longer accepts this connection. Please reauthenticate.",
                needs_reconnect=True,
            ) from error
        db.session.rollback()
        alerts.on_provider_error(owner.provider, error)  # a refused client secret alerts at once
        raise TokenUnavailable(error.message, retry_after=error.retry_after) from error


def mark_needs_reconnect(owner, reason: str) -> None:
    """Turn the owner red ("Needs reconnect") and record why; the first time (not again while
    it stays red) its owner is alerted. Commits."""
    owner = db.session.get(type(owner), owner.id)
    turned_red = owner.status != NEEDS_RECONNECT
    owner.status = NEEDS_RECONNECT
    owner.status_reason = reason[:500]
    audit.record(
        None,
        f"{owner.AUDIT_NAME}.needs_reconnect",
        target=owner.user,
        detail=f"{owner.provider}: {reason[:300]}",
    )
    if turned_red:
        alerts.raise_for_needs_reconnect(owner)
    db.session.commit()  # the point: the account turns red though the request fails
