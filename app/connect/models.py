"""The connect area's records: a connector (the admin's one-time configuration of a provider),
external accounts (a user's connection to a provider), their encrypted credentials, and OAuth
sign-ins in progress."""

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from app.core.db import UTCDateTime, utcnow
from app.extensions import db

if TYPE_CHECKING:
    from app.connect.provider import SignIn


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
    # The client secret's expiry as the admin read it in Azure (warnings 30, 7 and 1 day ahead),
    # and when the provider last refused the secret (cleared when a new secret is saved).
    secret_expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    secret_refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The last answer of "Grant admin consent for your organization": when, by whom, for which
    # tenant, and the result in words ("" until an admin tried).
    admin_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    admin_consent_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    admin_consent_tenant: Mapped[str] = mapped_column(String(64), default="", server_default="")
    admin_consent_result: Mapped[str] = mapped_column(Text, default="", server_default="")
    admin_consent_by = relationship("User", foreign_keys=[admin_consent_by_id])

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


class Authorization:
    """What every authorization keeps (an External Account, a mail account's SMTP/IMAP
    authorization and its Graph one): its status and why, the identity that signed in — the
    provider's stable (tenant, object) ids, and a name and address to show, never to authorize
    on —, and when and by whom it was authorized. Each keeps its tokens as its `credential`."""

    AUDIT_NAME: str
    STATUS_LABELS = STATUS_LABELS

    status: Mapped[str] = mapped_column(String(20), default=NOT_CONNECTED)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    authorized_name: Mapped[str] = mapped_column(String(200), default="")
    authorized_email: Mapped[str] = mapped_column(String(254), default="")
    authorized_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @declared_attr
    def authorized_by_id(cls) -> Mapped[int | None]:
        """Who authorized it: the owner, or an admin acting for them."""
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)

    @declared_attr
    def authorized_by(cls):
        """The user who authorized it."""
        return relationship("User", foreign_keys=f"{cls.__name__}.authorized_by_id")

    @property
    def is_authorized(self) -> bool:
        """Tokens are stored and the provider still accepts them."""
        return self.status == CONNECTED

    @property
    def status_label(self) -> str:
        """The status as the screen says it."""
        return self.STATUS_LABELS.get(self.status, self.status)

    def record_sign_in(self, sign_in: "SignIn", actor_id: int) -> str:
        """Make the identity that signed in this authorization's, connected now by `actor_id`;
        returns the address it had before ("" when none)."""
        previous = self.authorized_email
        self.tenant_id, self.object_id = sign_in.tenant_id, sign_in.object_id
        self.authorized_name, self.authorized_email = sign_in.name[:200], sign_in.username[:254]
        self.status, self.status_reason = CONNECTED, ""
        self.authorized_at, self.authorized_by_id = utcnow(), actor_id
        return previous

    def forget_identity(self) -> None:
        """Not connected any more: no identity, no status reason."""
        self.status, self.status_reason = NOT_CONNECTED, ""
        self.tenant_id = self.object_id = self.authorized_name = self.authorized_email = ""


class ExternalAccount(Authorization, db.Model):
    """One user's account at one provider, identified by the provider's (tenant, object) ids."""

    __tablename__ = "external_accounts"
    AUDIT_NAME = "external_account"
    __table_args__ = (
        UniqueConstraint("user_id", "provider", name="uq_external_account_user"),
        Index("ix_external_accounts_status", "status"),
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user = relationship("User", foreign_keys=[user_id])
    credential = relationship(
        "Credential",
        back_populates="account",
        uselist=False,
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


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
