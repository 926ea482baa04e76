"""A connector: the admin's one-time configuration of an identity provider (Microsoft now)."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class Connector(db.Model):
    """Client ID, encrypted client secret and tenant of one provider's app registration."""

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), unique=True)
    client_id: Mapped[str] = mapped_column(String(200), default="")
    client_secret_encrypted: Mapped[str] = mapped_column(Text, default="")
    secret_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    single_tenant: Mapped[bool] = mapped_column(Boolean, default=False)
    tenant: Mapped[str] = mapped_column(String(200), default="common")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Copy Link makes organization links; "anyone with the link" only where the admin allows it.
    allow_anonymous_links: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )

    @property
    def has_secret(self) -> bool:
        """Whether a client secret is stored."""
        return bool(self.client_secret_encrypted)

    @property
    def is_ready(self) -> bool:
        """Enabled, with a client ID and a secret: users may connect."""
        return self.enabled and bool(self.client_id) and self.has_secret
