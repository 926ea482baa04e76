"""Audit records, added in the caller's transaction so they commit or roll back with the change."""

from app.extensions import db
from app.users.models import AuditEvent, User


def record(
    actor: User | None, action: str, *, target: User | None = None, detail: str = ""
) -> None:
    """Add one audit event; the caller commits. Never pass a token or a secret in `detail`."""
    db.session.add(
        AuditEvent(
            actor_id=actor.id if actor else None,
            actor_name=actor.username if actor else "system",
            target_user_id=target.id if target else None,
            target_name=target.username if target else "",
            action=action,
            detail=detail[:2000],
        )
    )
