"""Email: mail accounts (outbound and inbound settings plus their own authorizations, kept
apart from External Accounts), the messages sent and imported, and their attachments."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.connect.models import CONNECTED, NEEDS_RECONNECT, NOT_CONNECTED, Authorization
from app.core.db import UTCDateTime, utcnow
from app.extensions import db

PERSONAL = "personal"  # a user's own mailbox: Emails > Email Settings
SYSTEM = "system"  # the system's outbound account: Admin > System Email Settings
GROUP = "group"  # a monitored group mailbox: Admin > Inbound Email
EXCHANGE_ONLINE = "exchange_online"
OTHER = "other"
SSL, STARTTLS, NONE = "ssl", "starttls", "none"
SEND_SMTP, SEND_GRAPH = "smtp", "graph"
# Who sees an inbound mailbox's mail: every user, or the users chosen on its page.
VISIBLE_TO_ALL, VISIBLE_TO_CHOSEN = "all", "chosen"

SENDING, SENT, FAILED, RECEIVED = "sending", "sent", "failed", "received"
OUTBOUND, INBOUND = "outbound", "inbound"
MESSAGE_STATUS_LABELS = {SENDING: "Sending", SENT: "Sent", FAILED: "Failed", RECEIVED: "Received"}
# A mail authorization says Authorized / Not Authorized (the Emails module's words).
AUTHORIZATION_LABELS = {
    CONNECTED: "Authorized",
    NEEDS_RECONNECT: "Not Authorized",
    NOT_CONNECTED: "Not Authorized",
}


mail_account_viewers = Table(
    "mail_account_viewers",
    db.metadata,
    Column(
        "mail_account_id",
        ForeignKey("mail_accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


def folder_names(setting: str | None) -> list[str]:
    """The folders a Folder setting names: split at commas, in order, each once; INBOX when it
    names none. INBOX is one folder however it is written (RFC 3501), so "inbox" is INBOX."""
    names = [name.strip() for name in (setting or "").split(",")]
    names = ["INBOX" if name.upper() == "INBOX" else name for name in names if name]
    return list(dict.fromkeys(names)) or ["INBOX"]


class MailAccount(Authorization, db.Model):
    """One mailbox the CRM sends from and/or imports: server settings, and the Outlook
    (SMTP.Send + IMAP) authorization whose tokens are its own `credential` (purpose "mail")."""

    __tablename__ = "mail_accounts"
    AUDIT_NAME = "mail_account"
    STATUS_LABELS = AUTHORIZATION_LABELS

    id: Mapped[int] = mapped_column(primary_key=True)
    slot: Mapped[str] = mapped_column(String(40), unique=True)  # user-<id> | system | group…
    role: Mapped[str] = mapped_column(String(16))
    # An inbound (group) mailbox's name in Admin > Inbound Email and the Emails list's filter.
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # A shared mailbox (support@…) this account signs in to with a delegate's authorization;
    # empty for a mailbox that is the authorized user's own.
    shared_address: Mapped[str] = mapped_column(String(254), default="", server_default="")
    visibility: Mapped[str] = mapped_column(
        String(10), default=VISIBLE_TO_ALL, server_default=VISIBLE_TO_ALL
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    provider: Mapped[str] = mapped_column(String(32), default="microsoft")
    email_provider: Mapped[str] = mapped_column(String(20), default=EXCHANGE_ONLINE)
    from_name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str] = mapped_column(String(254), default="")
    password_encrypted: Mapped[str] = mapped_column(Text, default="")
    smtp_host: Mapped[str] = mapped_column(String(253), default="")
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_security: Mapped[str] = mapped_column(String(10), default=STARTTLS)
    send_via: Mapped[str] = mapped_column(String(10), default=SEND_SMTP)
    allow_user_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    imap_host: Mapped[str] = mapped_column(String(253), default="")
    imap_port: Mapped[int] = mapped_column(Integer, default=993)
    imap_security: Mapped[str] = mapped_column(String(10), default=SSL)
    # The folders to import, separated by commas ("INBOX, Support"); each has its MailSyncState.
    imap_folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    # Import runs only when the owner (an admin, for the group mailbox) saved the inbound
    # settings with "Import into Emails" on; authorizing to send never imports a mailbox.
    import_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sync_lock_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_check_message: Mapped[str] = mapped_column(Text, default="")
    # The background sync (app/jobs): when the next run is due (queued, or a retry's time) and
    # the last run's error in words ("" after a run that worked).
    next_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_sync_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user = relationship("User", foreign_keys=[user_id])
    viewers = relationship("User", secondary=mail_account_viewers, order_by="User.id")
    sync_states = relationship(
        "MailSyncState",
        back_populates="account",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="MailSyncState.id",
    )
    credential = relationship(
        "Credential",
        back_populates="mail_account",
        uselist=False,
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    graph_authorization = relationship(
        "MailGraphAuthorization",
        back_populates="mail_account",
        uselist=False,
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def uses_oauth(self) -> bool:
        """Exchange Online authorizes with OAuth; Other uses a username and password."""
        return self.email_provider == EXCHANGE_ONLINE

    @property
    def mailbox_address(self) -> str:
        """The mailbox IMAP signs in to (XOAUTH2 `user=`): a shared mailbox's own address,
        signed in with its delegate's token, else the authorized account's."""
        return self.shared_address or self.authorized_email

    @property
    def sends_via_graph(self) -> bool:
        """Outbound goes through Microsoft Graph sendMail instead of SMTP."""
        return self.uses_oauth and self.send_via == SEND_GRAPH

    @property
    def sender_address(self) -> str:
        """The address mail goes out from: the shared mailbox it sends as (Send As, with the
        authorized person's token), the authorized mailbox, or the SMTP username."""
        if self.sends_via_graph and self.graph_authorization is not None:
            authorized = self.graph_authorization.authorized_email
            return (self.shared_address or authorized) if authorized else ""
        if not self.uses_oauth:
            return self.username
        return (self.shared_address or self.authorized_email) if self.authorized_email else ""


class MailGraphAuthorization(Authorization, db.Model):
    """The Microsoft Graph (Mail.Send) authorization of a mail account that sends via Graph:
    another resource, so another token, stored as its own `credential` (purpose "graph_mail")."""

    __tablename__ = "mail_graph_authorizations"
    AUDIT_NAME = "mail_graph_authorization"
    STATUS_LABELS = AUTHORIZATION_LABELS

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_account_id: Mapped[int] = mapped_column(
        ForeignKey("mail_accounts.id", ondelete="CASCADE"), unique=True
    )
    provider: Mapped[str] = mapped_column(String(32), default="microsoft")

    mail_account = relationship("MailAccount", back_populates="graph_authorization")
    credential = relationship(
        "Credential",
        back_populates="mail_graph",
        uselist=False,
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def user(self):
        """The user the mailbox belongs to (None for the system account)."""
        return self.mail_account.user


class MailMessage(db.Model):
    """A message sent from the CRM (stored before sending, so a failure never loses it) or
    imported from a mailbox (keyed by UIDVALIDITY/UID, de-duplicated by Message-ID)."""

    __tablename__ = "mail_messages"
    __table_args__ = (UniqueConstraint("account_id", "dedupe_key", name="uq_mail_message_dedupe"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_accounts.id", ondelete="SET NULL"), nullable=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    direction: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(Text, default="")
    to_addresses: Mapped[str] = mapped_column(Text, default="")
    cc_addresses: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message_id_header: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_via: Mapped[str] = mapped_column(String(10), default="")
    imap_folder: Mapped[str] = mapped_column(String(200), default="")
    imap_uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    imap_uid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The import keeps at most MAIL_MAX_BODY_BYTES of a body's text; True when it cut one.
    body_truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    account = relationship("MailAccount")
    user = relationship("User")
    attachments = relationship(
        "MailAttachment",
        back_populates="message",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="MailAttachment.id",
    )

    @property
    def status_label(self) -> str:
        """Sending / Sent / Failed / Received."""
        return MESSAGE_STATUS_LABELS.get(self.status, self.status)

    @hybrid_property
    def dated_at(self) -> datetime:
        """The message's date as the list shows and sorts it: when it was sent (an imported
        message's Date header), else when it was written."""
        return self.sent_at or self.created_at

    @dated_at.inplace.expression
    @classmethod
    def _dated_at_expression(cls):
        return func.coalesce(cls.sent_at, cls.created_at)


# The Emails list's two orders: a user's own messages and a mailbox's, newest date first.
Index("ix_mail_messages_user_dated", MailMessage.user_id, MailMessage.dated_at, MailMessage.id)
Index(
    "ix_mail_messages_account_dated", MailMessage.account_id, MailMessage.dated_at, MailMessage.id
)


class MailSyncState(db.Model):
    """Where the import of one folder of a mailbox stands: its UIDVALIDITY and the last UID
    imported (a new UIDVALIDITY starts the folder over, de-duplicated by Message-ID)."""

    __tablename__ = "mail_sync_states"
    __table_args__ = (UniqueConstraint("account_id", "folder", name="uq_mail_sync_state_folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mail_accounts.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    account = relationship("MailAccount", back_populates="sync_states")


class MailAttachment(db.Model):
    """An attachment of a message. An imported one is its name, type, size and where it sits
    in the message on the server (`imap_section`, fetched on demand, never copied here); one
    written in Compose keeps its bytes (`content`) with the message: stored before sending so a
    retry still has them, and kept after it was sent so the message's page offers the files."""

    __tablename__ = "mail_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(127), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    imap_section: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # The part's Content-Transfer-Encoding on the server (base64, quoted-printable…).
    encoding: Mapped[str] = mapped_column(String(40), default="", server_default="")
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)

    message = relationship("MailMessage", back_populates="attachments")
