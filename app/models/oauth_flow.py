"""One OAuth sign-in in progress: one-time state, PKCE verifier and nonce, kept on the server."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

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
