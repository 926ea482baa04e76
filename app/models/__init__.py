"""The app's models, one module per area."""

from app.models.audit import AuditEvent
from app.models.user import LoginThrottle, User

__all__ = ["AuditEvent", "LoginThrottle", "User"]
