"""The connect area's records: a connector (the admin's one-time configuration of a provider),
external accounts (a user's connection to a provider), their encrypted credentials, and OAuth
sign-ins in progress."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


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


CONNECTED = "connected"
NEEDS_RECONNECT = "needs_reconnect"
NOT_CONNECTED = "not_connected"
STATUS_LABELS = {
    CONNECTED: "Connected",
    NEEDS_RECONNECT: "Needs reconnect",
    NOT_CONNECTED: "Not connected",
}


class ExternalAccount(db.Model):
    """One user's account at one provider, identified by the provider's (tenant, object) ids."""

    __tablename__ = "external_accounts"
    AUDIT_NAME = "external_account"
    __table_args__ = (
        UniqueConstraint("user_id", "provider", name="uq_external_account_user"),
        # One provider identity (tenant, object) belongs to one CRM user's External Account.
        Index(
            "uq_external_account_identity",
            "provider",
            "tenant_id",
            "object_id",
            unique=True,
            sqlite_where=text("object_id != ''"),
            postgresql_where=text("object_id != ''"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default=NOT_CONNECTED, index=True)
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str] = mapped_column(String(254), default="")
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    connected_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    status_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user = relationship("User", foreign_keys=[user_id])
    connected_by = relationship("User", foreign_keys=[connected_by_id])
    credential = relationship(
        "Credential",
        back_populates="account",
        uselist=False,
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def status_label(self) -> str:
        """The status as the screen says it."""
        return STATUS_LABELS.get(self.status, self.status)


class Credential(db.Model):
    """Encrypted tokens for one purpose; never rendered, logged or sent out. Its owner is an
    external account (OneDrive) or, kept apart, an email account; the database deletes it with
    its owner."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("external_accounts.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    # Email tokens belong to a mail account (or its Graph sendMail authorization), never to
    # an external account: the database deletes them with their owner.
    mail_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_accounts.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    mail_graph_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_graph_authorizations.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[str] = mapped_column(Text, default="")
    access_token_encrypted: Mapped[str] = mapped_column(Text, default="")
    refresh_token_encrypted: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    account = relationship("ExternalAccount", back_populates="credential")
    mail_account = relationship("MailAccount", back_populates="credential")
    mail_graph = relationship("MailGraphAuthorization", back_populates="credential")


# --- OAuth sign-ins in progress -----------------------------------------------------------

PENDING = "pending"
DONE = "done"
ERROR = "error"
CONFIRM = "confirm"  # a different account signed in; waiting for the user to decide


class OAuthFlow(db.Model):
    """Who started it, for whom, for what, in which window, until when; used once."""

    __tablename__ = "oauth_flows"

    id: Mapped[str] = mapped_column(String(43), primary_key=True)
    state: Mapped[str] = mapped_column(String(86), unique=True)
    code_verifier_encrypted: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str] = mapped_column(String(86))
    provider: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(10))  # popup | redirect
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    target_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("external_accounts.id", ondelete="CASCADE"), nullable=True
    )
    mail_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_accounts.id", ondelete="CASCADE"), nullable=True
    )  # email flows (purposes "mail", "graph_mail") name their mail account here
    authorize_url: Mapped[str] = mapped_column(Text)
    return_url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    message: Mapped[str] = mapped_column(Text, default="")
    pending_result_encrypted: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
