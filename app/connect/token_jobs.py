"""Cron jobs of the token service: refresh idle refresh tokens before Microsoft's 90-day
inactivity limit kills them, and count accounts by status."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import func, or_, select

from app.connect import tokens
from app.connect.models import CONNECTED, Credential, ExternalAccount
from app.core.db import utcnow
from app.extensions import db

IDLE_DAYS = 80  # a provider lets a refresh token unused for 90 days die (Microsoft does)


def idle_before():
    """Refresh tokens last used before this moment count as idle."""
    return utcnow() - timedelta(days=IDLE_DAYS)


def register_owner_relation(app: Flask, name: str) -> None:
    """Name a Credential relationship that leads to a token owner (for the cron refresh); each
    area registers its own in its `init_app` (External Accounts: "account")."""
    relations = app.extensions.setdefault("token_owner_relations", [])
    if name not in relations:
        relations.append(name)


def owner_of(credential: Credential):
    """The account that owns a credential."""
    for name in current_app.extensions.get("token_owner_relations", ()):
        owner = getattr(credential, name, None)
        if owner is not None:
            return owner
    return None


@dataclass
class RefreshSummary:
    """The outcome of a cron refresh run."""

    refreshed: int = 0
    needs_reconnect: int = 0
    failed: list[str] = field(default_factory=list)


def idle_credentials(idle_days: int) -> list[int]:
    """Credentials whose refresh token has not been used for `idle_days` days."""
    cutoff = utcnow() - timedelta(days=idle_days)
    return list(
        db.session.scalars(
            select(Credential.id)
            .where(
                Credential.refresh_token_encrypted != "",
                or_(Credential.refreshed_at.is_(None), Credential.refreshed_at < cutoff),
            )
            .order_by(Credential.id)
        )
    )


def refresh_idle(idle_days: int, progress: Callable[[int], None] | None = None):
    """Refresh every idle credential once; transient errors are reported, not fatal."""
    summary = RefreshSummary()
    for credential_id in idle_credentials(idle_days):
        credential = db.session.get(Credential, credential_id)
        owner = owner_of(credential) if credential else None
        if owner is None or owner.status != CONNECTED:
            _step(progress)
            continue
        try:
            tokens.refresh_now(owner, credential.purpose)
            summary.refreshed += 1
        except tokens.TokenUnavailable as error:
            if error.needs_reconnect:
                summary.needs_reconnect += 1
            else:
                summary.failed.append(f"credential {credential_id}: {error.message}")
        _step(progress)
    return summary


def _step(progress) -> None:
    if progress:
        progress(1)


def status_counts() -> dict[str, int]:
    """External accounts by status, with Idle counted apart from Connected."""
    counts = dict(
        db.session.execute(
            select(ExternalAccount.status, func.count(ExternalAccount.id)).group_by(
                ExternalAccount.status
            )
        ).all()
    )
    idle = (
        db.session.scalar(
            select(func.count(ExternalAccount.id))
            .join(Credential, Credential.account_id == ExternalAccount.id)
            .where(
                ExternalAccount.status == CONNECTED,
                Credential.refreshed_at < idle_before(),
            )
        )
        or 0
    )
    counts["idle"] = idle
    counts[CONNECTED] = counts.get(CONNECTED, 0) - idle
    return counts
