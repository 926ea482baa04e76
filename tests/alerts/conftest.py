"""The app wired to the stand-in and its mail servers (as for the Emails tests), the system's
outbound account authorized there, and helpers to fail a grant and run `flask alerts send`."""

from datetime import timedelta
from email import message_from_string, policy

import pytest
from sqlalchemy import func, select

from app.alerts.models import Alert
from app.core.db import utcnow
from app.extensions import db
from tests.connect.conftest import (  # noqa: F401  (fixtures)
    ADELE,
    MEGAN,
    configured,
    ms,
)
from tests.mail.conftest import (  # noqa: F401  (fixtures)
    authorize,
    closed_port,
    mail_app,
    mail_servers,
    mail_standin_process,
    mailctl,
    sally_mail,
    smtp_settings,
    standin,
)

MEGAN_MAIL = "megan@contoso.example"


@pytest.fixture
def system_mail(auth, client, mail_app, mail_servers):  # noqa: F811
    """Admin > System Email Settings: the stand-in's SMTP, authorized as Megan; signed out."""
    auth.login("admin", "admin-password")
    settings = smtp_settings(mail_servers.smtp_port, from_name="CRM")
    assert client.post("/admin/email/system/outbound", data=settings).status_code == 302
    authorize(client, "/admin/email/system/authorize/mail", oid=MEGAN)
    auth.logout()


def expire(owner) -> None:
    """The stored access token is past its time: the next use asks for a refresh."""
    owner.credential.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def alerts(**where) -> list[Alert]:
    """The alert rows (fresh from the database), oldest first."""
    db.session.expire_all()
    statement = select(Alert).filter_by(**where).order_by(Alert.id)
    return list(db.session.scalars(statement))


def alert_count() -> int:
    """How many alert rows there are."""
    return db.session.scalar(select(func.count(Alert.id)))


def send(runner):
    """`flask alerts send`, as cron runs it."""
    return runner.invoke(args=["alerts", "send"])


def parsed(sent: dict):
    """A message of the stand-in's outbox, parsed."""
    return message_from_string(sent["raw"], policy=policy.default)
