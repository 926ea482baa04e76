"""An alert: one event (an authorization that needs reconnecting, a client secret that expires
or was refused) told to one person, on the page at once and by email once."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import UTCDateTime, utcnow
from app.extensions import db


class Alert(db.Model):
    """One event for one recipient; (event, recipient) is unique, so a failing request that
    repeats the event adds nothing, and the email goes out once."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("event", "recipient_id", name="uq_alert_event_recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # What happened, as a stable key: "external_account.needs_reconnect:12:<authorized at>",
    # "connector.secret_expires:microsoft:2027-01-31:7", ...
    event: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(500))  # where to fix it, a path in the CRM
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    email_error: Mapped[str] = mapped_column(Text, default="", server_default="")

    recipient = relationship("User")
